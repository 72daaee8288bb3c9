package obsclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
)

type recordingObserver struct {
	mu       sync.Mutex
	attempts []Attempt
	fetched  int
}

func (o *recordingObserver) ObserveAttempt(a Attempt) {
	o.mu.Lock()
	o.attempts = append(o.attempts, a)
	o.mu.Unlock()
}

func (o *recordingObserver) ObserveFetched(n int) {
	o.mu.Lock()
	o.fetched += n
	o.mu.Unlock()
}

// The Observer hears each attempt once, with its status, body bytes,
// failure code and whether it was retried, and the object bytes read.
func TestObserver(t *testing.T) {
	part := bytes.Repeat([]byte("x"), 100000)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		switch {
		case r.Method == "PUT" && n == 1:
			writeXML(w, 503, `<Error><Code>SlowDown</Code><Message>busy</Message></Error>`)
		case r.Method == "PUT":
			w.Header().Set("ETag", `"`+md5hex(body)+`"`)
		case r.Method == "HEAD":
			w.WriteHeader(404)
		default:
			w.Write([]byte("hello world"))
		}
	})
	obs := &recordingObserver{}
	cfg := s.config(SignatureV4)
	cfg.Observer = obs
	c := newTestClient(t, cfg)
	ctx := context.Background()
	if _, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U",
		Body: bytes.NewReader(part)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &HeadObjectInput{Bucket: "bkt", Key: "gone"}); err == nil {
		t.Fatal("HEAD of a 404 succeeded")
	}
	out, err := c.GetObject(ctx, &GetObjectInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	want := []Attempt{
		{Op: "UploadPart", Status: 503, Sent: int64(len(part)), Code: "SlowDown", Retried: true},
		{Op: "UploadPart", Status: 200, Sent: int64(len(part))},
		{Op: "HeadObject", Status: 404, Code: "NotFound"},
		{Op: "GetObject", Status: 200},
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.attempts) != len(want) {
		t.Fatalf("attempts %+v, want %+v", obs.attempts, want)
	}
	for i, a := range obs.attempts {
		if a.Duration <= 0 {
			t.Errorf("attempt %d: duration %v", i, a.Duration)
		}
		a.Duration = 0
		if a != want[i] {
			t.Errorf("attempt %d: %+v, want %+v", i, a, want[i])
		}
	}
	if obs.fetched != len(got) || len(got) != 11 {
		t.Errorf("fetched %d, read %d bytes", obs.fetched, len(got))
	}
}
