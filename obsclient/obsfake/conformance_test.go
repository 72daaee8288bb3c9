package obsfake_test

import (
	"testing"

	"github.com/obsfs/obsfs/obsclient/obsfake"
	"github.com/obsfs/obsfs/obsclient/storetest"
)

// TestConformance runs the store conformance suite against the fake; the
// same suite runs against MinIO in integration/ (TestStoreConformance).
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Options{}, func(t *testing.T) (storetest.Store, string) {
		return obsfake.New(), "bucket"
	})
}
