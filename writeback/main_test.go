package writeback

import (
	"os"
	"testing"
)

// testPage is the page size the unit tests run with: small, so that
// multi-part files stay cheap under the race detector. The logic does not
// depend on the value; integration tests run the real 1 MiB.
const testPage = 64 << 10

func TestMain(m *testing.M) {
	pageSize = testPage
	checkInvariants = true // every transition of a part is checked (parts.go)
	os.Exit(m.Run())
}
