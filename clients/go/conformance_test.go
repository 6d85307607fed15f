package keel

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var conformanceWorker struct {
	once sync.Once
	path string
	err  error
}

// buildConformanceWorker builds cmd/conformance-worker once per test binary.
func buildConformanceWorker(t *testing.T) string {
	t.Helper()
	conformanceWorker.once.Do(func() {
		dir, err := os.MkdirTemp("", "keel-go-conformance")
		if err != nil {
			conformanceWorker.err = err
			return
		}
		conformanceWorker.path = filepath.Join(dir, "conformance-worker")
		out, err := exec.Command("go", "build", "-o", conformanceWorker.path, "./cmd/conformance-worker").CombinedOutput()
		if err != nil {
			conformanceWorker.err = &exec.Error{Name: "go build: " + string(out), Err: err}
		}
	})
	if conformanceWorker.err != nil {
		t.Fatal(conformanceWorker.err)
	}
	return conformanceWorker.path
}

// TestConformance plays clients/conformance/ against cmd/conformance-worker with run.py and
// this folder's conformance-baseline.yml. The runner's lines, ending "N passed, M failed", are
// logged (go test -v shows them).
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the conformance transcripts")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the conformance runner needs it")
	}
	worker := buildConformanceWorker(t)
	cmd := exec.Command(python, "../conformance/run.py", "--cmd", worker, "--baseline", "conformance-baseline.yml")
	out, err := cmd.CombinedOutput()
	t.Logf("clients/conformance/run.py:\n%s", out)
	if err != nil {
		t.Fatalf("conformance runner: %v", err)
	}
}
