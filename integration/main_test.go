package integration

import (
	"os"
	"testing"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mounttest.Cleanup()
	if err := miniotest.StopShared(); err != nil {
		code = 1 // StopShared has printed the problem
	}
	os.Exit(code)
}
