package fs

import (
	"fmt"
	"os"
	"strings"
)

// readProcStatus returns the text of /proc/PID/status: what the kernel
// says of the process making a request (its credentials, cred.go; whether
// it is being killed, opctx.go).
func readProcStatus(pid uint32) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return string(data), err
}

// statusFields splits the text of /proc/PID/status into its "Name:\tvalue"
// lines, the value trimmed of surrounding space.
func statusFields(status string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(status, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			fields[name] = strings.TrimSpace(value)
		}
	}
	return fields
}
