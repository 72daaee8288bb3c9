package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// A dump as runtime.Stack(all=true) writes it (Go 1.26), one goroutine of
// each kind that checkGoroutines meets.
const sampleDump = `goroutine 1 [running]:
main.checkGoroutines(0xc000122000, 0x12a05f200)
	/src/cmd/obsfs/goroutines.go:101 +0x85
main.serve(0xc0000f2000, 0x0)
	/src/cmd/obsfs/main.go:470 +0x1234
main.run({0xc000020090, 0x6, 0x6})
	/src/cmd/obsfs/main.go:77 +0x2f5
main.main()
	/src/cmd/obsfs/main.go:50 +0x45

goroutine 18 [syscall]:
os/signal.signal_recv()
	/usr/local/go/src/runtime/sigqueue.go:152 +0x29
os/signal.loop()
	/usr/local/go/src/os/signal/signal_unix.go:23 +0x13
created by os/signal.Notify.func1.1 in goroutine 1
	/usr/local/go/src/os/signal/signal.go:152 +0x1f

goroutine 34 [IO wait]:
internal/poll.runtime_pollWait(0x7f2d5c0a1e58, 0x72)
	/usr/local/go/src/runtime/netpoll.go:351 +0x85
net.(*conn).Read(0xc0001a4000, {0xc000400000, 0x40000, 0x40000})
	/usr/local/go/src/net/net.go:194 +0x45
net/http.(*persistConn).Read(0xc0001b6000, {0xc000400000?, 0x40000?, 0x40000?})
	/usr/local/go/src/net/http/transport.go:2125 +0x47
bufio.(*Reader).Peek(0xc0001b0000, 0x1)
	/usr/local/go/src/bufio/bufio.go:152 +0x5d
net/http.(*persistConn).readLoop(0xc0001b6000)
	/usr/local/go/src/net/http/transport.go:2278 +0x172
created by net/http.(*Transport).dialConn in goroutine 33
	/usr/local/go/src/net/http/transport.go:1944 +0x174f

goroutine 35 [select]:
net/http.(*persistConn).writeLoop(0xc0001b6000)
	/usr/local/go/src/net/http/transport.go:2600 +0xe7
created by net/http.(*Transport).dialConn in goroutine 33
	/usr/local/go/src/net/http/transport.go:1945 +0x17a5

goroutine 51 [select]:
net/http.(*persistConn).roundTrip(0xc0001b6000, 0xc0002a4000)
	/usr/local/go/src/net/http/transport.go:2800 +0x9a5
net/http.(*Transport).roundTrip(0xc0001c0000, 0xc0002b0000)
	/usr/local/go/src/net/http/transport.go:696 +0xa45
net/http.(*Client).Do(0xc0001ba000, 0xc0002b0000)
	/usr/local/go/src/net/http/client.go:590 +0x6e
github.com/obsfs/obsfs/obsclient.(*Client).attempt(0xc0001c8000, {0xb4e6f0, 0xc0001d0000}, 0xc0002c0000)
	/src/obsclient/client.go:320 +0x3c5
github.com/obsfs/obsfs/writeback.(*File).dropStaged.func1()
	/src/writeback/staged.go:221 +0x10a
created by github.com/obsfs/obsfs/writeback.(*File).dropStaged in goroutine 40
	/src/writeback/staged.go:216 +0x125

goroutine 60 [chan receive]:
github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems(0xc0001e0000)
	/root/go/pkg/mod/github.com/dgraph-io/ristretto/v2@v2.4.2/cache.go:540 +0x8a
created by github.com/dgraph-io/ristretto/v2.NewCache[...] in goroutine 1
	/root/go/pkg/mod/github.com/dgraph-io/ristretto/v2@v2.4.2/cache.go:250 +0x5c5

goroutine 61 [runnable]:
github.com/obsfs/obsfs/fs.(*FS).expire.func1()
	/src/fs/meta.go:80 +0x20
created by time.goFunc
	/usr/local/go/src/time/sleep.go:215 +0x2d
`

func TestLeftoverGoroutinesSample(t *testing.T) {
	left := leftoverGoroutines([]byte(sampleDump), "1")
	var ids []string
	for _, g := range left {
		id, _ := goroutineID(g[:strings.IndexByte(g, '\n')])
		ids = append(ids, id)
	}
	// 51 is ours although it waits inside net/http; 60 is a library's that
	// obsfs starts (and must stop); 61 runs our function for time.AfterFunc.
	if want := "51 60 61"; strings.Join(ids, " ") != want {
		t.Fatalf("left goroutines %v, want %s", ids, want)
	}
	if !strings.HasPrefix(left[0], "goroutine 51 [select]:\n") || !strings.HasSuffix(left[0], "staged.go:216 +0x125") {
		t.Errorf("stack not kept whole:\n%s", left[0])
	}
	if got := leftoverGoroutines([]byte(sampleDump), "61"); len(got) != 3 || strings.HasPrefix(got[2], "goroutine 61 ") {
		t.Errorf("self 61: got %d stacks, the last %.20q", len(got), got[len(got)-1])
	}
	if got := leftoverGoroutines(nil, "1"); len(got) != 0 {
		t.Errorf("empty dump: %q", got)
	}
}

// TestLeftoverGoroutinesLive builds each kind in this process: the real
// dump must report the goroutine we left waiting and none of the HTTP
// transport's or the signal loop's.
func TestLeftoverGoroutinesLive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // the connection goes idle: its read and write loops stay

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() {
		close(started)
		<-release
	}()
	<-started

	self, _ := goroutineID(string(bytes.SplitN(stackDump(false), []byte("\n"), 2)[0]))
	dump := stackDump(true)
	if !bytes.Contains(dump, []byte("net/http.(*persistConn).readLoop")) || !bytes.Contains(dump, []byte("os/signal.")) {
		t.Fatalf("the dump lacks an idle connection or the signal loop:\n%s", dump)
	}
	ours := 0
	for _, g := range leftoverGoroutines(dump, self) {
		if strings.Contains(g, "persistConn") || strings.Contains(g, "os/signal.loop") {
			t.Errorf("reported a goroutine of the standard library:\n%s", g)
		}
		if strings.Contains(g, "TestLeftoverGoroutinesLive.func") && strings.Contains(g, ".TestLeftoverGoroutinesLive in goroutine") {
			ours++
		}
		if strings.Contains(g, ".TestLeftoverGoroutinesLive(") {
			t.Errorf("reported the calling goroutine:\n%s", g)
		}
	}
	if ours != 1 {
		t.Errorf("found %d of our waiting goroutine in the report, want 1", ours)
	}
}

func TestReportLeftovers(t *testing.T) {
	var out bytes.Buffer
	logger := logrus.New()
	logger.SetOutput(&out)
	log := logrus.NewEntry(logger)
	self, _ := goroutineID(string(bytes.SplitN(stackDump(false), []byte("\n"), 2)[0]))
	// The test process has goroutines of its own: look at this test's only.
	mine := func() []string {
		var left []string
		for _, g := range leftoverGoroutines(stackDump(true), self) {
			if strings.Contains(g, ".TestReportLeftovers in goroutine") {
				left = append(left, g)
			}
		}
		return left
	}

	// A goroutine that ends within the wait is not reported.
	go func() { time.Sleep(100 * time.Millisecond) }()
	if n := reportLeftovers(log, time.Minute, mine); n != 0 || out.Len() != 0 {
		t.Errorf("reported %d goroutines that ended within the wait:\n%s", n, out.String())
	}

	// One that does not is reported, in one warning line with its stack.
	release := make(chan struct{})
	defer close(release)
	go func() { <-release }()
	if n := reportLeftovers(log, 50*time.Millisecond, mine); n != 1 {
		t.Fatalf("reported %d goroutines, want 1", n)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=warning") || !strings.Contains(lines[0], leftoverWarning) ||
		!strings.Contains(lines[0], "TestReportLeftovers.func3") {
		t.Errorf("want one warning line naming the goroutine, got:\n%s", out.String())
	}
}
