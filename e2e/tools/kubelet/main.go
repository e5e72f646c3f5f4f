// kubelet-stand-in: the streaming half of a kubelet for the local control plane, which has no
// node. It serves the paths the apiserver calls for pods/exec, pods/attach and pods/portforward
// (/exec/{ns}/{pod}[/{uid}]/{container}, /attach/..., /portForward/{ns}/{pod}[/{uid}]) over TLS with
// the kubelet's own streaming code (k8s.io/kubelet/pkg/cri/streaming), so the apiserver's SPDY and
// WebSocket handling and kubectl's clients run exactly as against a real node. It is a test tool:
//   - exec runs the command on this machine in a per-pod working directory (<root>/<ns>/<pod>),
//     with a minimal environment; TTY requests are served as plain pipes.
//   - attach attaches to the pod's "main process", which here is a fresh `cat` (stdin echoed).
//   - port-forward dials the local port that <root>/forwards.json maps the pod's port to:
//     {"<ns>/<pod>": {"<podPort>": <localPort>}}, read on every request.
//   - exec also gets the pod's own environment, as a kubelet gives exec the container's: the
//     KEY=VALUE lines of <root>/<ns>/<pod>/.env, if the test wrote one.
//   - containerLogs (pods/log) serves <root>/<ns>/<pod>/<container>.log, whole (no follow, tail
//     or timestamps): the log a test wrote for that container.
//
// It prints "listening <host:port>" on stdout once it serves.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
	crirc "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

const (
	idleTimeout           = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
)

type standIn struct{ root string }

// podDir is the pod's working directory; names come from the apiserver (validated DNS labels),
// and are checked again so a path can never leave the root.
func (s *standIn) podDir(ns, pod string) (string, error) {
	for _, part := range []string{ns, pod} {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, "/\\") {
			return "", fmt.Errorf("invalid pod reference %q/%q", ns, pod)
		}
	}
	dir := filepath.Join(s.root, ns, pod)
	return dir, os.MkdirAll(dir, 0o755)
}

func (s *standIn) run(ctx context.Context, ns, pod string, cmd []string, in io.Reader, out, errOut io.WriteCloser) error {
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	dir, err := s.podDir(ns, pod)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	// The command's own process group, killed whole when the stream ends (a pipeline's children
	// would otherwise outlive it, blocked on a pipe nobody reads).
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 2 * time.Second
	c.Dir = dir
	c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "POD_NAMESPACE=" + ns, "POD_NAME=" + pod}
	if extra, rerr := os.ReadFile(filepath.Join(dir, ".env")); rerr == nil {
		for _, line := range strings.Split(string(extra), "\n") {
			if strings.Contains(line, "=") {
				c.Env = append(c.Env, line)
			}
		}
	}
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	if in != nil {
		// Through a pipe Wait closes when the process exits: with c.Stdin set to the stream, Wait
		// would wait for the client's stdin to end (a terminal's never does), as no kubelet does.
		stdin, perr := c.StdinPipe()
		if perr != nil {
			return perr
		}
		go func() { _, _ = io.Copy(stdin, in); _ = stdin.Close() }()
	}
	err = c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

// nsPod carries the namespace through the streaming library's podName argument.
func nsPod(ns, pod string) string { return ns + "/" + pod }

func splitNsPod(name string) (string, string) {
	ns, pod, _ := strings.Cut(name, "/")
	return ns, pod
}

func (s *standIn) ExecInContainer(ctx context.Context, name string, _ types.UID, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	ns, pod := splitNsPod(name)
	return s.run(ctx, ns, pod, cmd, in, out, errOut)
}

func (s *standIn) AttachContainer(ctx context.Context, name string, _ types.UID, _ string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) error {
	ns, pod := splitNsPod(name)
	return s.run(ctx, ns, pod, []string{"cat"}, in, out, errOut)
}

func (s *standIn) PortForward(ctx context.Context, name string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	local, err := s.forwardTarget(name, port)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(local)))
	if err != nil {
		return fmt.Errorf("pod %s port %d (local %d): %w", name, port, local, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	return nil
}

func (s *standIn) forwardTarget(name string, port int32) (int, error) {
	raw, err := os.ReadFile(filepath.Join(s.root, "forwards.json"))
	if err != nil {
		return 0, fmt.Errorf("no port-forward map: %w", err)
	}
	var forwards map[string]map[string]int
	if err := json.Unmarshal(raw, &forwards); err != nil {
		return 0, fmt.Errorf("forwards.json: %w", err)
	}
	local, ok := forwards[name][strconv.Itoa(int(port))]
	if !ok {
		return 0, fmt.Errorf("pod %s has no forward for port %d in forwards.json", name, port)
	}
	return local, nil
}

// route splits /{verb}/{ns}/{pod}[/{uid}]/{container} (container absent for portForward).
func route(path string) (verb, ns, pod, container string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 3 {
		return "", "", "", "", false
	}
	verb, ns, pod = parts[0], parts[1], parts[2]
	rest := parts[3:]
	switch verb {
	case "portForward":
		return verb, ns, pod, "", len(rest) <= 1
	case "containerLogs":
		if len(rest) != 1 || rest[0] == "" || rest[0] == "." || rest[0] == ".." || strings.ContainsAny(rest[0], "/\\") {
			return "", "", "", "", false
		}
		return verb, ns, pod, rest[0], true
	case "exec", "attach":
		if len(rest) == 2 {
			rest = rest[1:] // uid
		}
		if len(rest) != 1 || rest[0] == "" {
			return "", "", "", "", false
		}
		return verb, ns, pod, rest[0], true
	}
	return "", "", "", "", false
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	verb, ns, pod, container, ok := route(req.URL.Path)
	if !ok {
		http.NotFound(w, req)
		return
	}
	name := nsPod(ns, pod)
	switch verb {
	case "containerLogs":
		dir, err := s.podDir(ns, pod)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		logs, err := os.ReadFile(filepath.Join(dir, container+".log"))
		if err != nil {
			http.Error(w, fmt.Sprintf("container %q in pod %s has no log: %v", container, name, err), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(logs)
	case "exec", "attach":
		opts, err := crirc.NewOptions(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if verb == "exec" {
			crirc.ServeExec(w, req, s, name, "", container, req.URL.Query()["command"], opts, idleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
		} else {
			crirc.ServeAttach(w, req, s, name, "", container, opts, idleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
		}
	case "portForward":
		opts, err := portforward.NewV4Options(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, req, s, name, "", opts, idleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	cert := flag.String("tls-cert-file", "", "serving certificate (PEM)")
	key := flag.String("tls-private-key-file", "", "serving key (PEM)")
	root := flag.String("root", "", "directory of the pods' working directories and forwards.json")
	flag.Parse()
	if *cert == "" || *key == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "kubelet-stand-in: --tls-cert-file, --tls-private-key-file and --root are required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-stand-in:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	server := &http.Server{Handler: &standIn{root: *root}, ReadHeaderTimeout: 30 * time.Second}
	if err := server.ServeTLS(ln, *cert, *key); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-stand-in:", err)
		os.Exit(1)
	}
}
