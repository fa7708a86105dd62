package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptPrintsNoTable: make bench stopped with ^C says so and
// exits 130, and prints no table: the scenario it cut short would show
// as measured, and the targets as met or missed.
func TestInterruptPrintsNoTable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-quick", "-stores", "sqlite", "-scenarios", "a")
	cmd.Dir = "../.." // the module's root, where it builds doorway
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var said strings.Builder
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "floor (net/http, same client)") {
			break // a server has run and the next scenario is under way
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupting the harness: %v; it said:\n%s", err, said.String())
	}
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).ExitStatus() != 130 {
		t.Errorf("exit: %v, want status 130", err)
	}
	if !strings.Contains(said.String(), "bench: interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", said.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("printed a table of an interrupted run:\n%s", stdout.String())
	}
}

// TestOptionsNameWhatToFix: a bad -client, -bin, -against or -paced is refused
// before anything runs, naming the flag and what to do.
func TestOptionsNameWhatToFix(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := options{scenarios: "ab", stores: []string{"sqlite"}, conns: 32, duration: time.Second, tenants: 100, fleet: 100, backlog: 10, client: clientStd}
	for _, tc := range []struct {
		name string
		set  func(*options)
		want string // "" for no error
	}{
		{"as given", func(*options) {}, ""},
		{"minimal client", func(o *options) { o.client = clientMinimal }, ""},
		{"unknown client", func(o *options) { o.client = "fast" }, `-client "fast": use std or minimal`},
		{"-bin that is not there", func(o *options) { o.bin = "/nonexistent/doorway" }, "-bin /nonexistent/doorway: not an executable file"},
		{"-bin a directory", func(o *options) { o.bin = t.TempDir() }, "not an executable file"},
		{"-against a build", func(o *options) { o.against = exe }, ""},
		{"-against that is not there", func(o *options) { o.against = "/nonexistent/old" }, "-against /nonexistent/old: not an executable file"},
		{"-paced half", func(o *options) { o.paced = 0.5 }, ""},
		{"-paced at b's whole rate", func(o *options) { o.paced = 1 }, "-paced 1: use a share of b's rate below 1"},
		{"-paced below 0", func(o *options) { o.paced = -0.5 }, "-paced -0.5: use a share"},
		{"-against without a or b", func(o *options) { o.against, o.scenarios = exe, "f" }, "-against compares a and b: add a or b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.set(&o)
			err := o.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check: %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("check: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
