package fs

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Once a small directory's listing expired, the lookups of new names in
// it cost one listing for all of them, not a HEAD and a listing each (the
// directory's own attributes may cost a HEAD of its marker); a
// name another client created meanwhile is found by that listing.
func TestExpiredSmallDirectoryRelists(t *testing.T) {
	clock := newFakeClock()
	m := mount(t, hostileCache{}, func(c *Config) { c.StatCacheTTL = time.Minute; c.now = clock.Now })
	if err := os.Mkdir(m.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	create := func(name string) {
		t.Helper()
		if err := os.WriteFile(m.path("d/"+name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	create("a")
	clock.Advance(2 * time.Minute)
	m.put(t, "d/ext", []byte("external"), nil)
	heads, lists := m.store.Calls("HeadObject"), m.store.Calls("ListObjects")
	for i := range 10 {
		create(fmt.Sprintf("f%d", i))
	}
	if n := m.store.Calls("HeadObject") - heads; n > 1 {
		t.Errorf("%d HEADs for 10 new names in an expired small directory, want at most 1 (the directory's own attributes)", n)
	}
	if n := m.store.Calls("ListObjects") - lists; n != 1 {
		t.Errorf("%d listings for 10 new names in an expired small directory, want 1", n)
	}
	if got, err := os.ReadFile(m.path("d/ext")); err != nil || string(got) != "external" {
		t.Errorf("a name created by another client, after the listing: %q %v", got, err)
	}
}
