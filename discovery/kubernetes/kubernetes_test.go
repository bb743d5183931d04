package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/syncbuf"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shoalhq/shoal/discovery"
)

const testKubeconfig = "testdata/kubeconfig"

// testEnv is an env with nothing in it: not in a pod, no variables, no
// namespace file.
func testEnv(vars map[string]string, files map[string]string) env {
	return env{
		getenv: func(k string) string { return vars[k] },
		readFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		},
		inCluster: func() (*rest.Config, error) { return nil, rest.ErrNotInCluster },
	}
}

func mustSpec(t *testing.T, s string) discovery.Spec {
	t.Helper()
	specs, err := discovery.ParseSpec(s)
	if err != nil || len(specs) != 1 {
		t.Fatalf("ParseSpec(%q) = %v, %v", s, specs, err)
	}
	return specs[0]
}

func TestFromSpec(t *testing.T) {
	kc := "&kubeconfig=" + testKubeconfig
	for _, tc := range []struct {
		spec     string
		name     string
		interval time.Duration
		port     int
	}{
		{"kubernetes:app=hp?namespace=default" + kc, "kubernetes:app=hp@default(pods,ip)", discovery.DefaultInterval, 7000},
		{"kubernetes: app=hp,tier!=db ?namespace=shoal&interval=2s&port=7946" + kc, "kubernetes:app=hp,tier!=db@shoal(pods,ip)", 2 * time.Second, 7946},
		{"kubernetes:app in (hp,hp2)?namespace=ns&mode=DNS&cluster_domain=k8s.example" + kc, "kubernetes:app in (hp,hp2)@ns(pods,dns)", discovery.DefaultInterval, 7000},
		{"kubernetes:app=hp?namespace=ns&mode=hostname&subdomain=hp-headless" + kc, "kubernetes:app=hp@ns(pods,hostname)", discovery.DefaultInterval, 7000},
		{"kubernetes:?namespace=ns&source=endpointslices&service=hp" + kc, "kubernetes:kubernetes.io/service-name=hp@ns(endpointslices,ip)", discovery.DefaultInterval, 7000},
		{"kubernetes:tier=web?namespace=ns&source=EndpointSlices&service=hp" + kc, "kubernetes:kubernetes.io/service-name=hp,tier=web@ns(endpointslices,ip)", discovery.DefaultInterval, 7000},
		{"kubernetes:app=hp?namespace=ns&source=endpointslices&mode=dns" + kc, "kubernetes:app=hp@ns(endpointslices,dns)", discovery.DefaultInterval, 7000},
		// namespace from the kubeconfig context when no env says otherwise is
		// covered by TestDefaultNamespace; here the environment is the real one.
	} {
		t.Run(tc.spec, func(t *testing.T) {
			sp := mustSpec(t, tc.spec)
			before := len(sp.Options)
			s, err := FromSpec(sp, discovery.Defaults{ClusterPort: 7000})
			if err != nil {
				t.Fatalf("FromSpec: %v", err)
			}
			if len(sp.Options) != before {
				t.Errorf("FromSpec modified the caller's spec options")
			}
			if got := s.Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			ks := s.(*Strategy)
			if got := ks.Interval(); got != tc.interval {
				t.Errorf("Interval() = %v, want %v", got, tc.interval)
			}
			if ks.cfg.Port != tc.port {
				t.Errorf("port = %d, want %d", ks.cfg.Port, tc.port)
			}
		})
	}
}

func TestFromSpecInvalid(t *testing.T) {
	kc := "&kubeconfig=" + testKubeconfig
	for _, tc := range []struct{ spec, want string }{
		{"kubernetes:app=hp?namespace=default&nmespace=x" + kc, `unknown option "nmespace"`},
		{"kubernetes:app=hp?namespace=" + kc, `option "namespace" is empty`},
		{"kubernetes:?namespace=ns" + kc, "label selector is required"},
		{"kubernetes:app in hp?namespace=ns" + kc, "label selector"},
		{"kubernetes:app=hp?source=nodes" + kc, `source "nodes"`},
		{"kubernetes:app=hp?mode=srv" + kc, `mode "srv"`},
		{"kubernetes:app=hp?port=0" + kc, `port "0"`},
		{"kubernetes:app=hp?port=http" + kc, `port "http"`},
		{"kubernetes:app=hp?port=70000" + kc, `port "70000"`},
		{"kubernetes:app=hp?interval=1ms" + kc, "interval"},
		{"kubernetes:app=hp?service=hp" + kc, "only meaningful with source=endpointslices"},
		{"kubernetes:app=hp?subdomain=hp" + kc, "only meaningful with mode=hostname"},
		{"kubernetes:?source=endpointslices" + kc, "needs a service name or a label selector"},
		{"kubernetes:?source=endpointslices&service=Bad_Name" + kc, `service "Bad_Name"`},
		{"kubernetes:app=hp?namespace=Not_A_Namespace" + kc, `namespace "Not_A_Namespace"`},
		{"kubernetes:app=hp?cluster_domain=bad domain" + kc, "cluster domain"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := FromSpec(mustSpec(t, tc.spec), discovery.Defaults{ClusterPort: 7946})
			if !errors.Is(err, discovery.ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestFromSpecMissingKubeconfig(t *testing.T) {
	sp := mustSpec(t, "kubernetes:app=hp?namespace=ns&kubeconfig="+filepath.Join(t.TempDir(), "absent"))
	if _, err := FromSpec(sp, discovery.Defaults{ClusterPort: 7946}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %v, want ErrNoCredentials", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Selector = "app=hp"
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	zero := Config{Selector: "app=hp", Port: 7946} // zero Source/Mode/... mean defaults
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero-defaults config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no selector":      func(c *Config) { c.Selector = "" },
		"no port":          func(c *Config) { c.Port = 0 },
		"negative":         func(c *Config) { c.Interval = -time.Second },
		"tiny interval":    func(c *Config) { c.Interval = time.Millisecond },
		"bad source":       func(c *Config) { c.Source = "nodes" },
		"bad mode":         func(c *Config) { c.Mode = "srv" },
		"bad subdomain":    func(c *Config) { c.Mode, c.Subdomain = ModeHostname, "a.b" },
		"service for pods": func(c *Config) { c.Service = "hp" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestDefaultNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		files  map[string]string
		kubeNS string
		want   string
	}{
		{"nothing", nil, nil, "", "default"},
		{"kubeconfig", nil, nil, "kc", "kc"},
		{"env", map[string]string{"POD_NAMESPACE": "envns"}, nil, "kc", "envns"},
		{"file", map[string]string{"POD_NAMESPACE": "envns"}, map[string]string{NamespaceFile: "filens\n"}, "kc", "filens"},
		{"empty file", nil, map[string]string{NamespaceFile: " \n"}, "", "default"},
	} {
		if got := defaultNamespace(testEnv(tc.vars, tc.files), tc.kubeNS); got != tc.want {
			t.Errorf("%s: defaultNamespace = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Through New: the kubeconfig context's namespace is used when nothing
	// else names one.
	cfg := DefaultConfig()
	cfg.Selector, cfg.Kubeconfig = "app=hp", testKubeconfig
	s, err := newStrategy(cfg, testEnv(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace() != "from-kubeconfig" || s.Name() != "kubernetes:app=hp@from-kubeconfig(pods,ip)" {
		t.Fatalf("namespace %q, name %q", s.Namespace(), s.Name())
	}
}

func TestCredentials(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Selector, cfg.Namespace = "app=hp", "ns"

	// Not in a pod, $KUBECONFIG names a missing file: no credentials.
	e := testEnv(map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "absent")}, nil)
	if _, err := newStrategy(cfg, e); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("no credentials: err = %v", err)
	}
	// $KUBECONFIG names a usable file.
	e = testEnv(map[string]string{"KUBECONFIG": testKubeconfig}, nil)
	s, err := newStrategy(cfg, e)
	if err != nil || !strings.Contains(s.creds, testKubeconfig) {
		t.Fatalf("$KUBECONFIG: %v, creds %q", err, s.creds)
	}
	// In a pod: the service account wins over $KUBECONFIG...
	e.inCluster = func() (*rest.Config, error) { return &rest.Config{Host: "https://10.0.0.1:443"}, nil }
	if s, err = newStrategy(cfg, e); err != nil || s.creds != "the pod's service account" {
		t.Fatalf("in cluster: %v, creds %q", err, s.creds)
	}
	// ...but not over an explicit kubeconfig.
	cfg.Kubeconfig = testKubeconfig
	if s, err = newStrategy(cfg, e); err != nil || s.creds != "kubeconfig "+testKubeconfig {
		t.Fatalf("explicit: %v, creds %q", err, s.creds)
	}
	// In a pod with a broken service-account mount.
	cfg.Kubeconfig = ""
	e.inCluster = func() (*rest.Config, error) { return nil, fs.ErrNotExist }
	if _, err = newStrategy(cfg, e); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("broken mount: err = %v", err)
	}
}

func TestAddressFormatting(t *testing.T) {
	for _, tc := range []struct{ ip, dns, hostPort string }{
		{"10.1.2.3", "10-1-2-3.ns.pod.cluster.local", "10.1.2.3:7946"},
		{"127.0.0.1", "127-0-0-1.ns.pod.cluster.local", "127.0.0.1:7946"},
		{"fd00:10:244::5", "fd00-10-244--5.ns.pod.cluster.local", "[fd00:10:244::5]:7946"},
		{"2001:db8::1:0:0:1", "2001-db8--1-0-0-1.ns.pod.cluster.local", "[2001:db8::1:0:0:1]:7946"},
	} {
		if got := podDNSName(tc.ip, "ns", "cluster.local"); got != tc.dns {
			t.Errorf("podDNSName(%s) = %q, want %q", tc.ip, got, tc.dns)
		}
		if got := joinHostPort(tc.ip, 7946); got != tc.hostPort {
			t.Errorf("joinHostPort(%s) = %q, want %q", tc.ip, got, tc.hostPort)
		}
	}
	if got := serviceHostname("hp-0", "hp", "ns", "k8s.example"); got != "hp-0.hp.ns.svc.k8s.example" {
		t.Errorf("serviceHostname = %q", got)
	}
}

// pod builds a pod; opts mutate it.
func pod(name, ip string, opts ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "hp"}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
		},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func unready(p *corev1.Pod)  { p.Status.Conditions[1].Status = corev1.ConditionFalse }
func pending(p *corev1.Pod)  { p.Status.Phase = corev1.PodPending }
func deleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} }
func noReady(p *corev1.Pod)  { p.Status.Conditions = p.Status.Conditions[:1] }
func host(h, sub string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = h, sub }
}

func TestPodAddrs(t *testing.T) {
	pods := []corev1.Pod{
		pod("a", "10.0.0.1", host("a", "hp")),
		pod("b", "10.0.0.2", host("b", "")),
		pod("c", "10.0.0.3"),
		pod("v6", "fd00::3", host("v6", "hp")),
		pod("unready", "10.0.0.4", unready, host("unready", "hp")),
		pod("pending", "10.0.0.5", pending),
		pod("deleting", "10.0.0.6", deleting),
		pod("no-ready-condition", "10.0.0.7", noReady),
		pod("no-ip", ""),
		pod("failed", "10.0.0.8", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
		pod("succeeded", "10.0.0.9", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("deleting-unready", "10.0.0.10", deleting, unready),
		pod("pending-with-ip", "10.0.0.11", pending, unready),
	}
	// Running with an IP and not being deleted, Ready or not: unready and
	// no-ready-condition are peers.
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string
		skipped []string
	}{
		{"ip", Config{Mode: ModeIP, Port: 7946},
			[]string{"10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946", "[fd00::3]:7946", "10.0.0.4:7946", "10.0.0.7:7946"}, nil},
		{"dns", Config{Mode: ModeDNS, Port: 1, ClusterDomain: "cluster.local"},
			[]string{"10-0-0-1.ns.pod.cluster.local:1", "10-0-0-2.ns.pod.cluster.local:1", "10-0-0-3.ns.pod.cluster.local:1", "fd00--3.ns.pod.cluster.local:1",
				"10-0-0-4.ns.pod.cluster.local:1", "10-0-0-7.ns.pod.cluster.local:1"}, nil},
		{"hostname from pod", Config{Mode: ModeHostname, Port: 7946, ClusterDomain: "cluster.local"},
			[]string{"a.hp.ns.svc.cluster.local:7946", "v6.hp.ns.svc.cluster.local:7946", "unready.hp.ns.svc.cluster.local:7946"},
			[]string{"pod/ns/b", "pod/ns/c", "pod/ns/no-ready-condition"}},
		{"hostname with subdomain option", Config{Mode: ModeHostname, Port: 7946, Subdomain: "x", ClusterDomain: "c.example"},
			[]string{"a.x.ns.svc.c.example:7946", "b.x.ns.svc.c.example:7946", "v6.x.ns.svc.c.example:7946", "unready.x.ns.svc.c.example:7946"},
			[]string{"pod/ns/c", "pod/ns/no-ready-condition"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, sk := podAddrs(pods, tc.cfg)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("addrs = %q, want %q", got, tc.want)
			}
			var keys []string
			for _, s := range sk {
				keys = append(keys, s.key)
			}
			if !reflect.DeepEqual(keys, tc.skipped) {
				t.Errorf("skipped = %q, want %q", keys, tc.skipped)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func slice(name, svc string, typ discoveryv1.AddressType, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{ServiceNameLabel: svc}},
		AddressType: typ,
		Endpoints:   eps,
	}
}

func ep(ready *bool, hostname string, addrs ...string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

// terminating marks e as the EndpointSlice controller marks a pod being
// deleted: not ready, still serving, terminating.
func terminating(e discoveryv1.Endpoint) discoveryv1.Endpoint {
	e.Conditions.Ready, e.Conditions.Serving, e.Conditions.Terminating = ptr(false), ptr(true), ptr(true)
	return e
}

func TestSliceAddrs(t *testing.T) {
	items := []discoveryv1.EndpointSlice{
		slice("hp-v4", "hp", discoveryv1.AddressTypeIPv4,
			ep(ptr(true), "hp-0", "192.0.2.1"),
			ep(ptr(false), "hp-1", "192.0.2.2"), // not ready, not terminating: a peer
			ep(nil, "", "192.0.2.3"),            // conditions unset: a peer
			ep(ptr(true), "hp-4", "192.0.2.4", "192.0.2.44"),
			ep(ptr(true), "no-address"),
			terminating(ep(nil, "hp-5", "192.0.2.5")), // not a peer
		),
		slice("hp-v6", "hp", discoveryv1.AddressTypeIPv6, ep(ptr(true), "", "2001:db8::1")),
		slice("hp-fqdn", "", discoveryv1.AddressTypeFQDN, ep(ptr(true), "", "node.example.org")),
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string
		skipped int
	}{
		{"ip", Config{Mode: ModeIP, Port: 7946},
			[]string{"192.0.2.1:7946", "192.0.2.2:7946", "192.0.2.3:7946", "192.0.2.4:7946", "[2001:db8::1]:7946", "node.example.org:7946"}, 0},
		{"dns", Config{Mode: ModeDNS, Port: 7946, ClusterDomain: "cluster.local"},
			[]string{"192-0-2-1.ns.pod.cluster.local:7946", "192-0-2-2.ns.pod.cluster.local:7946", "192-0-2-3.ns.pod.cluster.local:7946",
				"192-0-2-4.ns.pod.cluster.local:7946", "2001-db8--1.ns.pod.cluster.local:7946", "node.example.org:7946"}, 0},
		{"hostname", Config{Mode: ModeHostname, Port: 7946, ClusterDomain: "cluster.local"},
			[]string{"hp-0.hp.ns.svc.cluster.local:7946", "hp-1.hp.ns.svc.cluster.local:7946", "hp-4.hp.ns.svc.cluster.local:7946"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, sk := sliceAddrs(items, tc.cfg)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("addrs = %q, want %q", got, tc.want)
			}
			if len(sk) != tc.skipped {
				t.Errorf("skipped = %v, want %d", sk, tc.skipped)
			}
		})
	}
}

// fakeAPI is an httptest API server: it serves pod and EndpointSlice lists
// for namespace ns, two items per page, or the status code in fail.
type fakeAPI struct {
	mu        sync.Mutex
	pods      []corev1.Pod
	slices    []discoveryv1.EndpointSlice
	fail      int
	selectors []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.selectors = append(f.selectors, r.URL.Query().Get("labelSelector"))
	w.Header().Set("Content-Type", "application/json")
	if f.fail != 0 {
		w.WriteHeader(f.fail)
		_ = json.NewEncoder(w).Encode(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Code: int32(f.fail),
			Reason:  metav1.StatusReason(http.StatusText(f.fail)),
			Message: fmt.Sprintf("fake %d from the test API server", f.fail),
		})
		return
	}
	page := 0
	if c := r.URL.Query().Get("continue"); c != "" {
		_, _ = fmt.Sscan(c, &page)
	}
	cont := func(n int) string {
		if 2*(page+1) < n {
			return fmt.Sprint(page + 1)
		}
		return ""
	}
	window := func(n int) (int, int) { return min(2*page, n), min(2*page+2, n) }
	switch r.URL.Path {
	case "/api/v1/namespaces/ns/pods":
		lo, hi := window(len(f.pods))
		_ = json.NewEncoder(w).Encode(corev1.PodList{
			TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{Continue: cont(len(f.pods))},
			Items:    f.pods[lo:hi],
		})
	case "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices":
		lo, hi := window(len(f.slices))
		_ = json.NewEncoder(w).Encode(discoveryv1.EndpointSliceList{
			TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
			ListMeta: metav1.ListMeta{Continue: cont(len(f.slices))},
			Items:    f.slices[lo:hi],
		})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) requestSelectors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.selectors...)
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// startFakeAPI serves f and writes a kubeconfig for it.
func startFakeAPI(t *testing.T, f *fakeAPI) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n", srv.URL)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer is a buffer loggers may write to concurrently.
type logBuffer = syncbuf.Buffer

func TestDiscoverPods(t *testing.T) {
	f := &fakeAPI{pods: []corev1.Pod{
		pod("a", "10.0.0.3", host("a", "hp")), pod("b", "10.0.0.1", unready), pod("c", "10.0.0.2", deleting),
		pod("d", "10.0.0.4", host("d", "hp")), pod("e", "10.0.0.1"), // same IP twice: reported once
	}}
	kc := startFakeAPI(t, f)
	var logs logBuffer
	ctx := context.Background()
	newS := func(mode Mode) *Strategy {
		cfg := DefaultConfig()
		cfg.Selector, cfg.Namespace, cfg.Kubeconfig, cfg.Mode = "app=hp", "ns", kc, mode
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := newS(ModeIP)
	got, err := s.Discover(ctx)
	if want := []string{"10.0.0.1:7946", "10.0.0.3:7946", "10.0.0.4:7946"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Discover = %q, %v; want %q (across 3 pages)", got, err, want)
	}
	if sels := f.requestSelectors(); len(sels) != 3 || sels[0] != "app=hp" || sels[2] != "app=hp" {
		t.Fatalf("requests' selectors = %q, want app=hp on 3 pages", sels)
	}

	// hostname mode: pods without a hostname are skipped and logged once
	// while they stay skipped.
	s = newS(ModeHostname)
	for range 3 {
		got, err = s.Discover(ctx)
		if want := []string{"a.hp.ns.svc.cluster.local:7946", "d.hp.ns.svc.cluster.local:7946"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("hostname Discover = %q, %v; want %q", got, err, want)
		}
	}
	if n := strings.Count(logs.String(), "skipping peer"); n != 2 {
		t.Fatalf("skipped pods logged %d times, want 2 (b and e once each):\n%s", n, logs.String())
	}

	// Nothing matches: an empty answer, not an error.
	f.set(func(f *fakeAPI) { f.pods = nil })
	if got, err = s.Discover(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty: Discover = %q, %v", got, err)
	}
}

func TestDiscoverEndpointSlices(t *testing.T) {
	f := &fakeAPI{slices: []discoveryv1.EndpointSlice{
		slice("hp-1", "hp", discoveryv1.AddressTypeIPv4, ep(ptr(true), "", "192.0.2.1"), ep(ptr(false), "", "192.0.2.2")),
		slice("hp-2", "hp", discoveryv1.AddressTypeIPv4, ep(nil, "", "192.0.2.3"), terminating(ep(ptr(true), "", "192.0.2.4"))),
	}}
	cfg := DefaultConfig()
	cfg.Source, cfg.Service, cfg.Namespace, cfg.Kubeconfig = SourceEndpointSlices, "hp", "ns", startFakeAPI(t, f)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Discover(context.Background())
	if want := []string{"192.0.2.1:7946", "192.0.2.2:7946", "192.0.2.3:7946"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Discover = %q, %v; want %q", got, err, want)
	}
	if sels := f.requestSelectors(); len(sels) != 1 || sels[0] != "kubernetes.io/service-name=hp" {
		t.Fatalf("requests' selectors = %q", sels)
	}
}

func TestDiscoverErrors(t *testing.T) {
	f := &fakeAPI{}
	kc := startFakeAPI(t, f)
	for _, tc := range []struct {
		code   int
		source Source
		want   error
		text   []string
	}{
		{http.StatusForbidden, SourcePods, ErrForbidden, []string{`verb "list"`, `resource "pods"`, `apiGroups: [""]`, `namespace "ns"`, "kubeconfig " + kc}},
		{http.StatusForbidden, SourceEndpointSlices, ErrForbidden, []string{`verb "list"`, `resource "endpointslices"`, `apiGroups: ["discovery.k8s.io"]`}},
		{http.StatusUnauthorized, SourcePods, ErrUnauthorized, []string{"rejected the credentials"}},
		{http.StatusNotFound, SourcePods, ErrAPI, []string{"list pods"}},
	} {
		t.Run(fmt.Sprint(tc.code, tc.source), func(t *testing.T) {
			f.set(func(f *fakeAPI) { f.fail = tc.code })
			cfg := DefaultConfig()
			cfg.Selector, cfg.Namespace, cfg.Kubeconfig, cfg.Source = "app=hp", "ns", kc, tc.source
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Discover(context.Background())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, w := range tc.text {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	// A cancelled context is honoured and reported as ErrAPI wrapping it.
	f.set(func(f *fakeAPI) { f.fail = 0 })
	cfg := DefaultConfig()
	cfg.Selector, cfg.Namespace, cfg.Kubeconfig = "app=hp", "ns", kc
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Discover(ctx); !errors.Is(err, ErrAPI) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}
