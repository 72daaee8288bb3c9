package integration

import (
	"os"
	"testing"

	"github.com/obsfs/obsfs/integration/miniotest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := miniotest.StopShared(); err != nil {
		code = 1 // StopShared has printed the problem
	}
	os.Exit(code)
}
