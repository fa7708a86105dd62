package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// build compiles doorway into dir, from the module the harness runs in.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "doorway")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/doorwayhq/doorway/cmd/doorway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build doorway: %v\n%s", err, out)
	}
	return bin, nil
}

// process is a server the harness started: doorway or the floor.
type process struct {
	cmd     *exec.Cmd
	url     string
	pprof   string        // profiler base URL, "" when off
	startup time.Duration // exec to the first healthy answer
	exited  chan struct{}
	err     error // why it exited
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startDoorway runs doorway serve on db and waits until /healthz answers.
func startDoorway(bin, db, masterKey, logPath string, profile bool) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr, "--db", db, "--webhook-allow-private"}
	var pprofAddr string
	if profile {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-addr", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOORWAY_MASTER_KEY="+masterKey)
	p, err := start(cmd, "http://"+addr, "/healthz", logPath)
	if err == nil && pprofAddr != "" {
		p.pprof = "http://" + pprofAddr
	}
	return p, err
}

// startFloor runs this program again as the floor server.
func startFloor(size int, signing bool) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floorEnv+"="+addr, floorSizeEnv+"="+strconv.Itoa(size))
	if signing {
		cmd.Env = append(cmd.Env, floorSignEnv+"=1")
	}
	return start(cmd, "http://"+addr, "/", "")
}

func start(cmd *exec.Cmd, url, health, logPath string) (*process, error) {
	var logFile io.WriteCloser = nopCloser{io.Discard}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		logFile = f
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server dies with the harness, whatever happens to the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, url: url, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := began.Add(30 * time.Second)
	for {
		resp, err := c.Get(url + health)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.startup = time.Since(began)
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before it was healthy (%v); see %s", filepath.Base(cmd.Path), p.err, logPath)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s was not healthy within 30 s: %v; see %s", filepath.Base(cmd.Path), err, logPath)
		}
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// stop ends the process with SIGTERM (SIGKILL after 15 s) and reports a
// crash: an exit the harness did not ask for.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited by itself: %v", filepath.Base(p.cmd.Path), p.err)
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 15 s of SIGTERM", filepath.Base(p.cmd.Path))
	}
	return nil
}

// memory returns the process's resident set and its peak since the last
// resetPeak, in bytes (Linux /proc).
func (p *process) memory() (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// cpu returns the CPU time the process has used so far (user and system),
// from /proc; 0 when it cannot be read. Linux reports it in ticks of 1/100 s
// (USER_HZ), whatever the kernel's own tick.
func (p *process) cpu() time.Duration { return procCPU(p.cmd.Process.Pid) }

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// postgresCPU sums the CPU time of every process called postgres on the
// machine: the throwaway cluster's postmaster, its backends and workers.
func postgresCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "postgres" {
			sum += procCPU(pid)
		}
	}
	return sum
}

// resetPeak starts a new peak (VmHWM) measurement.
func (p *process) resetPeak() {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// fetch GETs a URL into a file (profiles).
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, buf.String())
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
