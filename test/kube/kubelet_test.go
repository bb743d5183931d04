package kube_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kubelet plays the kubelet for the Deployment's pods, which the control
// plane creates but nothing runs (no scheduler, no kubelet): for each pod
// it runs the houseparty binary on a loopback address of its own, with the
// environment and cookie file resolved from the pod's spec, sets the pod
// Running with its IP as soon as the node runs, and Ready once the
// readiness probe answers 200, as a kubelet does.
//
// Where it must differ from a kubelet, it says so: the node reaches the
// API through KUBECONFIG (a kubeconfig with the ServiceAccount's token)
// instead of the mounted token and KUBERNETES_SERVICE_HOST, and
// HOUSEPARTY_HTTP_HOST is the pod IP, since every pod shares this
// machine's network. The preStop sleep is not slept.
type kubelet struct {
	f          *fixture
	bin        string
	kubeconfig string
	dir        string
	selector   string
	cred       *syscall.Credential // the pod's user, when this test runs as root
	http       *http.Client
	nodes      []*podNode
	files      map[string]string // the Secret volume files written, with owner and mode
}

// podNode is one pod's running binary.
type podNode struct {
	pod     string
	ip      string
	name    string // the node's name, houseparty@ip
	base    string // http://ip:port of its HTTP API
	grace   time.Duration
	c       corev1.Container // the pod's container, for its probes
	log     string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // from Wait, once done is closed
	stopped bool
}

func newKubelet(f *fixture, bin, kubeconfig, dir string, dep *appsv1.Deployment) *kubelet {
	t := f.t
	t.Helper()
	if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		t.Fatalf("this machine has a service-account namespace file: the nodes would list pods in that namespace, not %s; run the suite outside a pod", f.ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubelet{
		f: f, bin: bin, dir: dir, selector: sel.String(),
		http:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}, // no proxy: nodes are on loopback
		files: map[string]string{},
	}
	t.Cleanup(k.http.CloseIdleConnections)
	// The nodes run as the pod's user when this test can switch to it.
	if os.Geteuid() == 0 {
		psc, sc := dep.Spec.Template.Spec.SecurityContext, dep.Spec.Template.Spec.Containers[0].SecurityContext
		if sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil {
			t.Fatalf("the container's securityContext names no runAsUser and runAsGroup to run the nodes as")
		}
		k.cred = &syscall.Credential{Uid: uint32(*sc.RunAsUser), Gid: uint32(*sc.RunAsGroup), Groups: []uint32{}}
		if psc != nil && psc.FSGroup != nil {
			k.cred.Groups = append(k.cred.Groups, uint32(*psc.FSGroup)) // the kubelet adds it as a supplementary group
		}
	}
	// The kubeconfig the nodes use, readable by their user only.
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	k.kubeconfig = filepath.Join(dir, "serviceaccount.kubeconfig")
	if err := os.WriteFile(k.kubeconfig, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if k.cred != nil {
		k.chown(k.kubeconfig, int(k.cred.Uid), int(k.cred.Gid))
	}
	return k
}

// chown sets path's owner and group, as the kubelet would for the nodes'
// user; nothing when the nodes run as this test's user. -1 keeps one.
func (k *kubelet) chown(path string, uid, gid int) {
	k.f.t.Helper()
	if k.cred == nil {
		return
	}
	if err := os.Chown(path, uid, gid); err != nil {
		k.f.t.Fatal(err)
	}
}

// running returns the nodes not yet stopped.
func (k *kubelet) running() []*podNode {
	var out []*podNode
	for _, n := range k.nodes {
		if !n.stopped {
			out = append(out, n)
		}
	}
	return out
}

// pods waits until the Deployment has want pods not being deleted and
// returns them by name.
func (k *kubelet) pods(want int) []corev1.Pod {
	k.f.t.Helper()
	var pods []corev1.Pod
	k.f.eventually(30*time.Second, fmt.Sprintf("the Deployment has %d pods", want), func() (bool, string) {
		list, err := k.f.admin.CoreV1().Pods(k.f.ns).List(k.f.ctx, metav1.ListOptions{LabelSelector: k.selector})
		if err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		return len(pods) == want, fmt.Sprintf("%d pods", len(pods))
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// runPods waits for the Deployment to have want pods and runs a node for
// each pod that has none yet. The new pods' nodes start together, as a
// Deployment's pods do; each pod is marked Running (not Ready) with its IP
// once its node runs, so the nodes can find each other before any is
// Ready, and Ready once its node's readiness probe answers 200.
func (k *kubelet) runPods(want int) {
	t := k.f.t
	t.Helper()
	type started struct {
		n     *podNode
		pod   corev1.Pod
		start time.Time
	}
	var batch []started
	for _, p := range k.pods(want) {
		if slices.ContainsFunc(k.nodes, func(n *podNode) bool { return n.pod == p.Name }) {
			continue
		}
		n := k.start(&p, fmt.Sprintf("127.0.0.%d", deployIPBase+len(k.nodes)))
		k.f.setPodStatus(p.Name, n.ip, false)
		batch = append(batch, started{n, p, time.Now()})
	}
	for _, s := range batch {
		k.waitReady(s.n)
		k.f.setPodStatus(s.pod.Name, s.n.ip, true)
		t.Logf("checked: pod %s: node %s started, pod set Running with podIP %s; /readyz answered 200 after %v, pod set Ready",
			s.pod.Name, s.n.name, s.n.ip, time.Since(s.start).Round(time.Millisecond))
	}
}

// start runs the pod's container as a process on ip.
func (k *kubelet) start(pod *corev1.Pod, ip string) *podNode {
	t := k.f.t
	t.Helper()
	c := pod.Spec.Containers[0]
	if len(c.Command) > 0 {
		t.Fatalf("pod %s: container command %q: this test can run only the image's entrypoint (the houseparty binary)", pod.Name, c.Command)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		t.Fatalf("pod %s: service links are enabled, and this test does not make their variables", pod.Name)
	}
	env := k.containerEnv(pod, c, ip)
	n := &podNode{pod: pod.Name, ip: ip, name: hpName + "@" + ip, c: c, done: make(chan struct{})}
	n.base = "http://" + probeHostPort(c, c.ReadinessProbe.HTTPGet, ip)
	n.grace = 30 * time.Second
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		n.grace = time.Duration(*g) * time.Second
	}
	// Not from the pod: each node serves HTTP on its own loopback address
	// (in a pod, all interfaces are the pod's), and reaches the API with the
	// ServiceAccount's token through a kubeconfig (in a pod, the mounted
	// token: the strategy falls back to $KUBECONFIG out of one).
	env = append(env, "HOUSEPARTY_HTTP_HOST="+ip, "KUBECONFIG="+k.kubeconfig)

	n.log = filepath.Join(k.dir, pod.Name+".log")
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, expandEnv(a, envMap(env)))
	}
	n.cmd = exec.Command(k.bin, args...)
	n.cmd.Env = env
	n.cmd.Dir = "/"
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if k.cred != nil {
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: k.cred}
	}
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("pod %s: start %s: %v", pod.Name, k.bin, err)
	}
	go func() {
		n.err = n.cmd.Wait()
		logf.Close()
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			t.Logf("--- log of node %s (pod %s), last lines:\n%s", n.name, n.pod, tail(n.log, 60))
		}
	})
	k.nodes = append(k.nodes, n)
	return n
}

// containerEnv resolves the container's environment as the kubelet does,
// in order, with $(NAME) references to earlier variables expanded, and
// the pod's Secret volumes written under k.dir: a variable naming a path
// under a Secret volume's mount path points into that copy instead.
func (k *kubelet) containerEnv(pod *corev1.Pod, c corev1.Container, ip string) []string {
	t := k.f.t
	t.Helper()
	if len(c.EnvFrom) > 0 {
		t.Fatalf("pod %s: envFrom is not resolved by this test", pod.Name)
	}
	mounts := k.mountVolumes(pod, c)
	vars := map[string]string{}
	var env []string
	for _, e := range c.Env {
		v := expandEnv(e.Value, vars)
		if src := e.ValueFrom; src != nil {
			switch {
			case src.FieldRef != nil:
				switch src.FieldRef.FieldPath {
				case "status.podIP", "status.podIPs":
					v = ip
				case "metadata.namespace":
					v = pod.Namespace
				case "metadata.name":
					v = pod.Name
				case "spec.serviceAccountName":
					v = pod.Spec.ServiceAccountName
				default:
					t.Fatalf("pod %s: env %s: fieldRef %s is not resolved by this test", pod.Name, e.Name, src.FieldRef.FieldPath)
				}
			case src.SecretKeyRef != nil:
				s, err := k.f.admin.CoreV1().Secrets(pod.Namespace).Get(k.f.ctx, src.SecretKeyRef.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("pod %s: env %s: %v", pod.Name, e.Name, err)
				}
				v = string(s.Data[src.SecretKeyRef.Key])
			default:
				t.Fatalf("pod %s: env %s: valueFrom %+v is not resolved by this test", pod.Name, e.Name, src)
			}
		}
		for mountPath, local := range mounts {
			if v == mountPath || strings.HasPrefix(v, mountPath+"/") {
				v = local + strings.TrimPrefix(v, mountPath)
			}
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env
}

// mountVolumes writes the container's Secret volumes as the kubelet does
// (files with the volume's modes; with an fsGroup, group-owned by it and
// group-readable) and returns their mount paths and local copies. The
// service-account token volume is left out: the node uses KUBECONFIG.
func (k *kubelet) mountVolumes(pod *corev1.Pod, c corev1.Container) map[string]string {
	t := k.f.t
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		switch {
		case v.Projected != nil && slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil }):
			continue // the API token: replaced by KUBECONFIG
		case v.Secret == nil:
			t.Fatalf("pod %s: volume %s is not a Secret, which is all this test mounts", pod.Name, m.Name)
		}
		s, err := k.f.admin.CoreV1().Secrets(pod.Namespace).Get(k.f.ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: volume %s: %v (the kubelet would leave the pod ContainerCreating)", pod.Name, m.Name, err)
		}
		items := v.Secret.Items
		if len(items) == 0 {
			for key := range s.Data {
				items = append(items, corev1.KeyToPath{Key: key, Path: key})
			}
		}
		dir := filepath.Join(k.dir, pod.Name, m.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var fsGroup *int64
		if pod.Spec.SecurityContext != nil {
			fsGroup = pod.Spec.SecurityContext.FSGroup
		}
		for _, it := range items {
			data, ok := s.Data[it.Key]
			if !ok {
				t.Fatalf("pod %s: Secret %s has no key %q", pod.Name, s.Name, it.Key)
			}
			mode := os.FileMode(corev1.SecretVolumeSourceDefaultMode)
			if it.Mode != nil {
				mode = os.FileMode(*it.Mode)
			} else if v.Secret.DefaultMode != nil {
				mode = os.FileMode(*v.Secret.DefaultMode)
			}
			path := filepath.Join(dir, it.Path)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if fsGroup != nil {
				k.chown(path, -1, int(*fsGroup))
				mode |= 0o440 // what the kubelet adds on a read-only volume with an fsGroup
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(path); err == nil {
				sys := st.Sys().(*syscall.Stat_t)
				k.files[filepath.Join(m.MountPath, it.Path)] = fmt.Sprintf("uid %d gid %d mode %v", sys.Uid, sys.Gid, st.Mode())
			}
		}
		out[m.MountPath] = dir
	}
	return out
}

// expandEnv expands $(NAME) in s from vars as Kubernetes does: $$ is a
// literal $, and a reference to an unknown name is kept as written.
func expandEnv(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			ref := s[i : i+3+end]
			if v, ok := vars[s[i+2:i+2+end]]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(ref)
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// probeHostPort is where an httpGet probe goes: its host or the pod IP, and
// its port, by number or by the container port's name.
func probeHostPort(c corev1.Container, g *corev1.HTTPGetAction, ip string) string {
	host := g.Host
	if host == "" {
		host = ip
	}
	port := g.Port.IntValue()
	if g.Port.Type == intstr.String {
		for _, p := range c.Ports {
			if p.Name == g.Port.StrVal {
				port = int(p.ContainerPort)
			}
		}
	}
	return host + ":" + strconv.Itoa(port)
}

// probe runs one of the node's httpGet probes and returns the status and
// body.
func (k *kubelet) probe(n *podNode, p *corev1.Probe) (int, string, error) {
	url := "http://" + probeHostPort(n.c, p.HTTPGet, n.ip) + p.HTTPGet.Path
	ctx, cancel := context.WithTimeout(k.f.ctx, time.Duration(max(p.TimeoutSeconds, 1))*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// waitReady polls the node's readiness probe until it answers 200, and
// checks the liveness probe answers too.
func (k *kubelet) waitReady(n *podNode) {
	t := k.f.t
	t.Helper()
	k.f.eventually(30*time.Second, "node "+n.name+" is ready", func() (bool, string) {
		select {
		case <-n.done:
			t.Fatalf("node %s (pod %s) exited before it was ready: %v\n%s", n.name, n.pod, n.err, tail(n.log, 40))
		default:
		}
		code, body, err := k.probe(n, n.c.ReadinessProbe)
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %q %v", code, body, err)
	})
	if code, body, err := k.probe(n, n.c.LivenessProbe); err != nil || code != http.StatusOK {
		t.Fatalf("node %s: liveness probe %s: %d %q %v", n.name, n.c.LivenessProbe.HTTPGet.Path, code, body, err)
	}
}

// clusterView is GET /cluster.
type clusterView struct {
	Self    string `json:"self"`
	Members []struct {
		Name      string `json:"name"`
		Status    string `json:"status"`
		Processes int    `json:"processes"`
	} `json:"members"`
}

// getJSON GETs path from node n into v.
func (k *kubelet) getJSON(n *podNode, path string, v any) error {
	req, err := http.NewRequestWithContext(k.f.ctx, http.MethodGet, n.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s: %s", n.base, path, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s%s: %w", n.base, path, err)
	}
	return nil
}

// converge waits until every running node's /cluster shows exactly the
// running nodes alive, each named houseparty@<its pod IP>.
func (k *kubelet) converge(what string) {
	t := k.f.t
	t.Helper()
	nodes := k.running()
	var want []string
	for _, n := range nodes {
		want = append(want, n.name)
	}
	sort.Strings(want)
	start := time.Now()
	k.f.eventually(30*time.Second, what, func() (bool, string) {
		var state []string
		ok := true
		for _, n := range nodes {
			var v clusterView
			if err := k.getJSON(n, "/cluster", &v); err != nil {
				return false, err.Error()
			}
			var alive []string
			for _, m := range v.Members {
				if m.Status == "alive" {
					alive = append(alive, m.Name)
				}
			}
			sort.Strings(alive)
			code, body, err := k.probe(n, n.c.ReadinessProbe)
			ok = ok && v.Self == n.name && slices.Equal(alive, want) && err == nil && code == http.StatusOK
			state = append(state, fmt.Sprintf("%s sees %q alive, readiness %d %q %v", v.Self, alive, code, body, err))
		}
		return ok, strings.Join(state, "; ") + fmt.Sprintf("; want %q", want)
	})
	t.Logf("checked: %s: every node's /cluster lists %q alive and its readiness probe answers 200 (%v)", what, want, time.Since(start).Round(time.Millisecond))
}

// checkLogs checks no node was refused by the API: the Role is enough.
func (k *kubelet) checkLogs() {
	t := k.f.t
	t.Helper()
	for _, n := range k.nodes {
		b, err := os.ReadFile(n.log)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), []byte("forbidden")) {
			t.Fatalf("node %s logged an RBAC refusal:\n%s", n.name, tail(n.log, 40))
		}
	}
	t.Logf("checked: no node's log mentions a Forbidden answer from the API")
}

// tldr is the JSON of GET /stats/tldr.
type tldr struct {
	Stats struct {
		TotalPeople int `json:"total_people"`
		TotalRooms  int `json:"total_rooms"`
	} `json:"stats"`
}

// startParty starts the small scenario through one node and waits until
// every node places its processes on all the running nodes; it returns
// the number of processes by node.
func (k *kubelet) startParty() map[string]int {
	t := k.f.t
	t.Helper()
	nodes := k.running()
	var st tldr
	if err := k.getJSON(nodes[0], "/scenario/small", &st); err != nil {
		t.Fatalf("start the small scenario: %v", err)
	}
	procs := map[string]int{}
	k.f.eventually(30*time.Second, "the party's processes spread over every node", func() (bool, string) {
		var v clusterView
		if err := k.getJSON(nodes[len(nodes)-1], "/cluster", &v); err != nil {
			return false, err.Error()
		}
		clear(procs)
		ok := len(v.Members) == len(nodes)
		for _, m := range v.Members {
			procs[m.Name] = m.Processes
			ok = ok && m.Processes > 0
		}
		return ok, fmt.Sprint(procs)
	})
	k.checkParty(procs)
	t.Logf("checked: /scenario/small: processes by node %v", procs)
	return procs
}

// checkParty waits until every running node counts the small scenario's
// 100 people and 5 rooms, and the running nodes together run as many
// processes as procs counts.
func (k *kubelet) checkParty(procs map[string]int) {
	t := k.f.t
	t.Helper()
	total := 0
	for _, p := range procs {
		total += p
	}
	for _, n := range k.running() {
		k.f.eventually(30*time.Second, "node "+n.name+" counts the whole party", func() (bool, string) {
			var st tldr
			if err := k.getJSON(n, "/stats/tldr", &st); err != nil {
				return false, err.Error()
			}
			var v clusterView
			if err := k.getJSON(n, "/cluster", &v); err != nil {
				return false, err.Error()
			}
			sum := 0
			for _, m := range v.Members {
				sum += m.Processes
			}
			return st.Stats.TotalPeople == 100 && st.Stats.TotalRooms == 5 && sum == total,
				fmt.Sprintf("%d people, %d rooms, %d processes; want 100, 5, %d", st.Stats.TotalPeople, st.Stats.TotalRooms, sum, total)
		})
	}
	t.Logf("checked: every running node counts 100 people, 5 rooms and %d processes", total)
}

// waitPodGone waits for the pod of one running node to be deleted (a
// scale-down) and returns that node.
func (k *kubelet) waitPodGone() *podNode {
	k.f.t.Helper()
	pods := k.pods(len(k.running()) - 1)
	for _, n := range k.running() {
		if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == n.pod }) {
			return n
		}
	}
	k.f.t.Fatalf("no running node lost its pod")
	return nil
}

// stop sends the nodes SIGTERM all at once, as the kubelet does once
// preStop is done (for every pod together when a Deployment scales to
// zero), and checks each exits 0 within its pod's grace period.
func (k *kubelet) stop(nodes ...*podNode) {
	t := k.f.t
	t.Helper()
	start := time.Now()
	for _, n := range nodes {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM node %s: %v", n.name, err)
		}
	}
	for _, n := range nodes {
		select {
		case <-n.done:
		case <-time.After(n.grace - time.Since(start)):
			t.Fatalf("node %s (pod %s) still running %v after SIGTERM, the grace period", n.name, n.pod, n.grace)
		}
		n.stopped = true
		if n.err != nil {
			t.Fatalf("node %s (pod %s) exited with %v after SIGTERM, want 0:\n%s", n.name, n.pod, n.err, tail(n.log, 40))
		}
		t.Logf("checked: node %s (pod %s) exited 0 %v after SIGTERM (grace %v)", n.name, n.pod, time.Since(start).Round(time.Millisecond), n.grace)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkUser reports what the nodes ran as and which Secret files they
// read: had they been unable to read the cookie, they would have exited.
func (k *kubelet) checkUser() {
	t := k.f.t
	t.Helper()
	if k.cred == nil {
		t.Logf("not root: the nodes ran as this test's user; the cookie file's permissions were not tried for real")
		return
	}
	t.Logf("checked: the nodes ran as uid %d gid %d with supplementary groups %v (fsGroup) and read their Secret volume files: %v",
		k.cred.Uid, k.cred.Gid, k.cred.Groups, k.files)
}
