package obsclient

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// condServer simulates one key of a store that honours If-Match and
// If-None-Match on PUT and Complete, for the ambiguous-retry tests.
type condServer struct {
	mu        sync.Mutex
	etag      string // the object's ETag, quoted; "" when absent; guarded by mu
	pending   bool   // the upload U is pending; guarded by mu
	writes    int    // PUTs and Completes received; guarded by mu
	heads     int    // guarded by mu
	lists     int    // guarded by mu
	lastConds [2]string
	// dropFirst drops the connection of the first write; applyFirst
	// applies it first; otherFirst lets another writer replace the
	// object instead (the first write is not applied).
	dropFirst, applyFirst, otherFirst bool
	// applyOnList: the dropped first Complete is still being applied
	// when ListParts looks (it answers "pending"), and finishes after.
	applyOnList bool
	resultETag  string // the ETag this client's write produces
}

const otherETag = `"0123456789abcdef0123456789abcdef"`

func (cs *condServer) conditionFails(r *http.Request) (status int, code string) {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	cs.lastConds = [2]string{im, inm}
	if im != "" {
		if cs.etag == "" {
			return 404, "NoSuchKey"
		}
		if im != cs.etag {
			return 412, "PreconditionFailed"
		}
	}
	if inm == "*" && cs.etag != "" {
		return 412, "PreconditionFailed"
	}
	return 0, ""
}

func (cs *condServer) handle(t *testing.T) func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
	return func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		q := r.URL.Query()
		w.Header().Set("x-amz-request-id", "REQ"+strings.Repeat("I", n))
		write := func(ok func()) {
			cs.writes++
			if status, code := cs.conditionFails(r); status != 0 {
				writeXML(w, status, `<Error><Code>`+code+`</Code></Error>`)
				return
			}
			if cs.writes == 1 && cs.dropFirst {
				switch {
				case cs.applyFirst:
					cs.apply()
				case cs.otherFirst:
					cs.etag = otherETag
				}
				hijackClose(t, w)
				return
			}
			cs.apply()
			ok()
		}
		switch {
		case r.Method == "PUT":
			write(func() { w.Header().Set("ETag", cs.resultETag) })
		case r.Method == "POST" && q.Has("uploadId"):
			// The conditions are checked first: a retry of a Complete
			// that took effect gets 412 (a store checking the upload
			// first answers NoSuchUpload, tested elsewhere).
			if !cs.pending {
				if status, code := cs.conditionFails(r); status != 0 {
					cs.writes++
					writeXML(w, status, `<Error><Code>`+code+`</Code></Error>`)
					return
				}
				cs.writes++
				writeXML(w, 404, `<Error><Code>NoSuchUpload</Code></Error>`)
				return
			}
			write(func() {
				writeXML(w, 200, `<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>`+cs.resultETag+`</ETag></CompleteMultipartUploadResult>`)
			})
		case r.Method == "GET" && q.Has("uploadId"):
			cs.lists++
			if !cs.pending {
				writeXML(w, 404, `<Error><Code>NoSuchUpload</Code></Error>`)
				return
			}
			writeXML(w, 200, `<ListPartsResult><UploadId>U</UploadId><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part></ListPartsResult>`)
			if cs.applyOnList {
				cs.apply()
			}
		case r.Method == "HEAD":
			cs.heads++
			if cs.etag == "" {
				w.WriteHeader(404)
				return
			}
			w.Header().Set("ETag", cs.etag)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.RequestURI)
			w.WriteHeader(500)
		}
	}
}

func (cs *condServer) apply() {
	cs.etag = cs.resultETag
	cs.pending = false
}

// A conditional Complete refused with 412 on a retry after an ambiguous
// failure succeeds when the store shows the upload's own earlier attempt
// completed it, and fails with the 412 otherwise.
func TestConditionalCompleteAmbiguous(t *testing.T) {
	p1 := []byte("part one")
	parts := []CompletedPart{{1, `"` + md5hex(p1) + `"`}}
	multi, _ := ExpectedMultipartETag(parts)
	mine := `"` + multi + `"`
	tests := []struct {
		name          string
		cs            *condServer
		ifMatch       string
		ifNoneMatch   string
		want412       bool
		wantRecovered bool
		wantWrites    int
	}{
		{name: "new file: applied late (ListParts saw it pending), the retry gets 412",
			cs:          &condServer{dropFirst: true, applyOnList: true},
			ifNoneMatch: "*", wantRecovered: true, wantWrites: 2},
		{name: "edit: applied late, the retry's If-Match fails on its own result",
			cs:      &condServer{etag: `"base"`, dropFirst: true, applyOnList: true},
			ifMatch: `"base"`, wantRecovered: true, wantWrites: 2},
		{name: "new file: dropped unapplied, another writer created it meanwhile",
			cs:          &condServer{dropFirst: true, otherFirst: true},
			ifNoneMatch: "*", want412: true, wantWrites: 2},
		{name: "edit: another writer replaced it before the first attempt",
			cs:      &condServer{etag: otherETag},
			ifMatch: `"base"`, want412: true, wantWrites: 1},
		{name: "new file exists already: one request, no check",
			cs:          &condServer{etag: otherETag},
			ifNoneMatch: "*", want412: true, wantWrites: 1},
		{name: "new file, no failure", cs: &condServer{}, ifNoneMatch: "*", wantWrites: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := tt.cs
			cs.pending, cs.resultETag = true, mine
			s := newScriptedS3(t, false, cs.handle(t))
			cfg := s.config(SignatureV4)
			cfg.Logger, _ = debugLogger()
			c := newTestClient(t, cfg)
			out, err := c.CompleteMultipartUpload(context.Background(), &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k",
				UploadID: "U", Parts: parts, IfMatch: tt.ifMatch, IfNoneMatch: tt.ifNoneMatch})
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if cs.writes != tt.wantWrites {
				t.Errorf("Complete sent %d times, want %d", cs.writes, tt.wantWrites)
			}
			if cs.lastConds != [2]string{tt.ifMatch, tt.ifNoneMatch} {
				t.Errorf("conditions sent %q, want %q", cs.lastConds, [2]string{tt.ifMatch, tt.ifNoneMatch})
			}
			if tt.wantWrites == 1 && cs.lists+cs.heads != 0 {
				t.Errorf("%d ListParts and %d HEADs after a plain answer, want none", cs.lists, cs.heads)
			}
			if tt.want412 {
				if !IsPreconditionFailed(err) {
					t.Fatalf("got %+v, %v; want 412", out, err)
				}
				if cs.etag == mine {
					t.Errorf("the refused Complete replaced the object")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Recovered != tt.wantRecovered || out.ETag != mine {
				t.Errorf("output %+v, want Recovered %v, ETag %s", out, tt.wantRecovered, mine)
			}
		})
	}
}

// A conditional PUT refused with 412 on a retry after an ambiguous
// failure succeeds when HEAD shows the object is this body (its MD5), and
// fails with the 412 otherwise.
func TestConditionalPutAmbiguous(t *testing.T) {
	body := []byte("the body")
	mine := `"` + md5hex(body) + `"`
	tests := []struct {
		name          string
		cs            *condServer
		ifMatch       string
		ifNoneMatch   string
		want412       bool
		wantRecovered bool
		wantWrites    int
		wantHeads     int
	}{
		{name: "new file: applied, response lost; the retry gets 412, HEAD shows this body",
			cs:          &condServer{dropFirst: true, applyFirst: true},
			ifNoneMatch: "*", wantRecovered: true, wantWrites: 2, wantHeads: 1},
		{name: "edit: applied, response lost; the retry's If-Match fails on its own result",
			cs:      &condServer{etag: `"base"`, dropFirst: true, applyFirst: true},
			ifMatch: `"base"`, wantRecovered: true, wantWrites: 2, wantHeads: 1},
		{name: "new file: lost unapplied, another writer created it meanwhile",
			cs:          &condServer{dropFirst: true, otherFirst: true},
			ifNoneMatch: "*", want412: true, wantWrites: 2, wantHeads: 1},
		{name: "edit: another writer replaced it before the first attempt",
			cs:      &condServer{etag: otherETag},
			ifMatch: `"base"`, want412: true, wantWrites: 1},
		{name: "new file, no failure", cs: &condServer{}, ifNoneMatch: "*", wantWrites: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := tt.cs
			cs.resultETag = mine
			s := newScriptedS3(t, false, cs.handle(t))
			cfg := s.config(SignatureV4)
			cfg.Logger, _ = debugLogger()
			c := newTestClient(t, cfg)
			out, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k",
				Body: strings.NewReader(string(body)), IfMatch: tt.ifMatch, IfNoneMatch: tt.ifNoneMatch})
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if cs.writes != tt.wantWrites || cs.heads != tt.wantHeads {
				t.Errorf("%d PUTs and %d HEADs, want %d and %d", cs.writes, cs.heads, tt.wantWrites, tt.wantHeads)
			}
			if cs.lastConds != [2]string{tt.ifMatch, tt.ifNoneMatch} {
				t.Errorf("conditions sent %q, want %q", cs.lastConds, [2]string{tt.ifMatch, tt.ifNoneMatch})
			}
			if tt.want412 {
				if !IsPreconditionFailed(err) {
					t.Fatalf("got %+v, %v; want 412", out, err)
				}
				if cs.etag == mine {
					t.Errorf("the refused PUT replaced the object")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Recovered != tt.wantRecovered || out.ETag != mine {
				t.Errorf("output %+v, want Recovered %v, ETag %s", out, tt.wantRecovered, mine)
			}
		})
	}
}
