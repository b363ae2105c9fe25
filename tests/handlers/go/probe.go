// The sandbox probes of tests/test_sandbox_runtimes.py: each op tries one
// thing a handler should not be able to do (or should be limited in) and
// answers "ok" or the errno's name, as tests/handlers/node/probe.js does.
package main

import (
	"errors"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM",
	syscall.EROFS: "EROFS", syscall.ENOSPC: "ENOSPC", syscall.EMFILE: "EMFILE", syscall.EIO: "EIO",
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ENETUNREACH: "ENETUNREACH",
}

// field reads "name": "text" or "name": 123 from the flat JSON event the tests send.
func field(body, name string) string {
	_, rest, ok := strings.Cut(body, `"`+name+`": `)
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, `"`) {
		value, _, _ := strings.Cut(rest[1:], `"`)
		return value
	}
	end := strings.IndexAny(rest, ",}")
	return rest[:end]
}

func failure(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return strconv.Quote(name)
		}
		return strconv.Quote("errno " + strconv.Itoa(int(errno)))
	}
	return strconv.Quote(err.Error())
}

func probe(body string) string {
	arg := field(body, "arg")
	n, _ := strconv.Atoi(field(body, "n"))
	switch field(body, "op") {
	case "read":
		f, err := os.Open(arg)
		if err != nil {
			return failure(err)
		}
		defer f.Close()
		if _, err := f.Read(make([]byte, 1)); err != nil {
			return failure(err)
		}
	case "kill":
		if err := syscall.Kill(n, 0); err != nil {
			return failure(err)
		}
	case "pids":
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return failure(err)
		}
		pids := []int{}
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
		sort.Ints(pids)
		return list(len(pids), func(i int) string { return strconv.Itoa(pids[i]) })
	case "ls":
		entries, err := os.ReadDir(arg)
		if err != nil {
			return failure(err)
		}
		return list(len(entries), func(i int) string { return strconv.Quote(entries[i].Name()) })
	case "write":
		if err := os.WriteFile(arg, []byte("x"), 0o644); err != nil {
			return failure(err)
		}
	case "fill": // 8 MB blocks until the file system refuses (at most 600 MB): [MB written, errno]
		f, err := os.Create(arg)
		if err != nil {
			return failure(err)
		}
		defer os.Remove(arg)
		defer f.Close()
		block, written, why := make([]byte, 8<<20), 0, "null"
		for written < 600<<20 {
			k, err := f.Write(block)
			written += k
			if err != nil {
				why = failure(err)
				break
			}
		}
		return "[" + strconv.Itoa(written>>20) + "," + why + "]"
	case "nofile": // descriptors opened before the limit (at most 2000): [count, errno]
		fds, why := []int{}, "null"
		for len(fds) < 2000 {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
			if err != nil {
				why = failure(err)
				break
			}
			fds = append(fds, fd)
		}
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return "[" + strconv.Itoa(len(fds)) + "," + why + "]"
	case "connect":
		conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(n))
		if err != nil {
			return failure(err)
		}
		conn.Close()
	case "spawn": // sleep (for arg seconds, a number that tells it apart) in a session of its own, as a daemon would
		attr := &os.ProcAttr{Sys: &syscall.SysProcAttr{Setsid: true}}
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", arg}, attr)
		if err != nil {
			return failure(err)
		}
		p.Release()
	case "env":
		return strconv.Quote(os.Getenv(arg))
	case "status": // a field of /proc/self/status (CapEff, NoNewPrivs ...)
		data, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return failure(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && name == arg {
				return strconv.Quote(strings.TrimSpace(value))
			}
		}
		return `""`
	}
	return `"ok"`
}

func list(n int, item func(int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = item(i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
