// Command throwaway runs a command with a throwaway PostgreSQL: it starts a
// cluster from the machine's own binaries, sets DOORWAY_TEST_POSTGRES_URL
// for the command, and removes the cluster when the command ends, so that
// every test package of one `make test` shares one cluster.
//
//	go run ./internal/pgtest/throwaway -- go test ./...
//
// With DOORWAY_TEST_POSTGRES_URL already set it only runs the command.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/doorwayhq/doorway/internal/pgtest"
)

func main() { os.Exit(run()) }

func run() int {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: throwaway -- COMMAND [ARG...]")
		return 2
	}
	if os.Getenv(pgtest.EnvURL) == "" {
		start := time.Now()
		c, err := pgtest.Start()
		if err != nil {
			fmt.Fprintf(os.Stderr, "throwaway: cannot start PostgreSQL: %v\n"+
				"Install it (Debian: apt-get install postgresql) or set %s.\n", err, pgtest.EnvURL)
			if os.Getenv("CI") == "true" {
				return 1
			}
			fmt.Fprintln(os.Stderr, "throwaway: not under CI, so the PostgreSQL tests will be skipped")
		} else {
			defer c.Stop()
			fmt.Fprintf(os.Stderr, "throwaway: PostgreSQL on port %d in %s (started in %s)\n", c.Port, c.Dir, time.Since(start).Round(time.Millisecond))
			os.Setenv(pgtest.EnvURL, c.URL)
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt, syscall.SIGTERM) // the command gets them too; clean up after it
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "throwaway:", err)
		return 1
	}
	return 0
}
