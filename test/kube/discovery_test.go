// Package kube_test checks discovery/kubernetes against a real kube-apiserver
// (with etcd and kube-controller-manager; no kubelet, no scheduler). It runs
// only when SHOAL_KUBE_TEST_KUBECONFIG names an admin kubeconfig for a
// disposable control plane, which `make kube-test` (mk/kube.mk) starts;
// otherwise every test skips. A dedicated variable, not $KUBECONFIG, so a
// plain `go test ./...` never creates objects in whatever cluster a
// developer's kubeconfig points at.
//
// The strategy always runs with a ServiceAccount token whose Role grants
// only get/list/watch on pods and discovery.k8s.io endpointslices. Pods
// never run: the tests set their status (Running, podIP 127.0.0.x, Ready)
// through the status subresource. EndpointSlices carry 192.0.2.x
// (TEST-NET-1, documentation) addresses, which are only data in the API
// server: nothing here dials, resolves or sends to any discovered address;
// the strategy only lists objects, and the tests compare strings.
//
// TestDeploy (deploy_test.go, kubelet_test.go) checks the manifests in
// deploy/kubernetes: applied with kubectl, the RBAC of their
// ServiceAccount, and the real houseparty binary run once per pod the
// Deployment creates, on loopback addresses 127.0.0.101 and up.
package kube_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/shoalhq/shoal/discovery"
	kdisc "github.com/shoalhq/shoal/discovery/kubernetes"
)

// EnvKubeconfig names the admin kubeconfig of a disposable control plane.
const EnvKubeconfig = "SHOAL_KUBE_TEST_KUBECONFIG"

const (
	saName    = "shoal-discovery"
	roleName  = "shoal-discovery"
	finalizer = "shoal.test/hold"
	port      = 7946
)

// fixture is one test's namespace with a discovery ServiceAccount bound to
// the minimal Role, and a kubeconfig holding that account's token.
type fixture struct {
	t          *testing.T
	ctx        context.Context
	admin      *clientset.Clientset
	adminCfg   *rest.Config
	ns         string
	kubeconfig string       // the discovery ServiceAccount's token
	sa         *rest.Config // the same, for direct API checks
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := os.Getenv(EnvKubeconfig)
	if path == "" {
		t.Skipf("%s is not set: this suite needs a real, disposable kube-apiserver; run `make kube-test` (mk/kube.mk), which builds, starts and stops one", EnvKubeconfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	adminCfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("admin kubeconfig %s: %v", path, err)
	}
	admin, err := clientset.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	nsObj, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shoal-" + strings.ToLower(t.Name()) + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	f := &fixture{t: t, ctx: ctx, admin: admin, adminCfg: adminCfg, ns: nsObj.Name}
	t.Logf("namespace %s on %s", f.ns, adminCfg.Host)
	t.Cleanup(func() {
		// Release pods held by the test finalizer, then drop the namespace
		// (the namespace controller finishes it; the control plane is
		// disposable, so nothing waits for that).
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		pods, err := admin.CoreV1().Pods(f.ns).List(cctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				if len(p.Finalizers) > 0 {
					_, _ = admin.CoreV1().Pods(f.ns).Patch(cctx, p.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
				}
			}
		}
		_ = admin.CoreV1().Namespaces().Delete(cctx, f.ns, metav1.DeleteOptions{})
	})

	f.createSA(saName)
	_, err = admin.RbacV1().Roles(f.ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: roleName},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{discoveryv1.GroupName}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	_, err = admin.RbacV1().RoleBindings(f.ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: roleName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: saName, Namespace: f.ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create rolebinding: %v", err)
	}
	f.sa, f.kubeconfig = f.tokenFor(saName, "")

	// The authorizer learns of new RoleBindings through its informers;
	// wait until the grant is visible before testing through it.
	sa := f.client(f.sa)
	f.eventually(10*time.Second, "the discovery ServiceAccount can list pods", func() (bool, string) {
		_, err := sa.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return f
}

func (f *fixture) createSA(name string) {
	f.t.Helper()
	if _, err := f.admin.CoreV1().ServiceAccounts(f.ns).Create(f.ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{}); err != nil {
		f.t.Fatalf("create serviceaccount %s: %v", name, err)
	}
}

// tokenFor asks the TokenRequest API for a token of ServiceAccount name (what
// `kubectl create token` does), or uses token as given when it is not
// empty, and returns a rest.Config and a kubeconfig file using it with the
// API server's CA from the admin kubeconfig.
func (f *fixture) tokenFor(name, token string) (*rest.Config, string) {
	f.t.Helper()
	if token == "" {
		tr, err := f.admin.CoreV1().ServiceAccounts(f.ns).CreateToken(f.ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))},
		}, metav1.CreateOptions{})
		if err != nil {
			f.t.Fatalf("token request for %s: %v", name, err)
		}
		token = tr.Status.Token
	}
	ca := f.adminCfg.CAData
	if len(ca) == 0 {
		var err error
		if ca, err = os.ReadFile(f.adminCfg.CAFile); err != nil {
			f.t.Fatalf("API server CA: %v", err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: f.adminCfg.Host, CertificateAuthorityData: ca}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	kc.CurrentContext = "test"
	path := filepath.Join(f.t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		f.t.Fatal(err)
	}
	return &rest.Config{Host: f.adminCfg.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, path
}

func (f *fixture) client(cfg *rest.Config) *clientset.Clientset {
	f.t.Helper()
	c, err := clientset.NewForConfig(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds or timeout passes; state describes
// the last observation for the failure message.
func (f *fixture) eventually(timeout time.Duration, what string, cond func() (ok bool, state string)) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("%s: still not true after %v; last: %s", what, timeout, state)
		case <-tick.C:
		}
	}
}

// strategy builds the strategy from a spec string, the way a node does,
// with this fixture's namespace and the discovery account's kubeconfig
// unless the spec names others.
func (f *fixture) strategy(spec string) discovery.Strategy {
	f.t.Helper()
	if !strings.Contains(spec, "?") {
		spec += "?"
	} else {
		spec += "&"
	}
	if !strings.Contains(spec, "namespace=") {
		spec += "namespace=" + f.ns + "&"
	}
	if !strings.Contains(spec, "kubeconfig=") {
		spec += "kubeconfig=" + f.kubeconfig
	}
	specs, err := discovery.ParseSpec(spec)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := kdisc.FromSpec(specs[0], discovery.Defaults{
		ClusterPort: port,
		Logger:      slog.New(slog.NewTextHandler(f.t.Output(), nil)),
	})
	if err != nil {
		f.t.Fatalf("FromSpec(%q): %v", spec, err)
	}
	return s
}

// discover runs one Discover and fails the test on error.
func (f *fixture) discover(s discovery.Strategy) []string {
	f.t.Helper()
	got, err := s.Discover(f.ctx)
	if err != nil {
		f.t.Fatalf("%s: Discover: %v", s.Name(), err)
	}
	return got
}

// expect checks one Discover answer now.
func (f *fixture) expect(s discovery.Strategy, want []string, what string) {
	f.t.Helper()
	if got := f.discover(s); !slices.Equal(got, want) {
		f.t.Fatalf("%s: Discover = %q, want %q", s.Name(), got, want)
	}
	f.t.Logf("checked: %s: %s -> %q", what, s.Name(), want)
}

// converge polls Discover until it answers want.
func (f *fixture) converge(s discovery.Strategy, want []string, what string) {
	f.t.Helper()
	f.eventually(20*time.Second, s.Name()+" converges", func() (bool, string) {
		got, err := s.Discover(f.ctx)
		return err == nil && slices.Equal(got, want), fmt.Sprintf("%q, %v; want %q", got, err, want)
	})
	f.t.Logf("checked: %s: %s -> %q", what, s.Name(), want)
}

// podOpts shape a test pod.
type podOpts struct {
	labels              map[string]string
	hostname, subdomain string
	hold                bool // add the test finalizer, so deletion leaves it terminating
}

func (f *fixture) createPod(name string, o podOpts) {
	f.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: o.labels},
		Spec: corev1.PodSpec{
			ServiceAccountName:           saName,
			AutomountServiceAccountToken: ptr(false),
			Hostname:                     o.hostname,
			Subdomain:                    o.subdomain,
			Containers:                   []corev1.Container{{Name: "node", Image: "shoal.invalid/never-pulled:0"}},
		},
	}
	if o.hold {
		p.Finalizers = []string{finalizer}
	}
	// The ServiceAccount admission plugin may not have seen the account yet.
	f.eventually(10*time.Second, "create pod "+name, func() (bool, string) {
		_, err := f.admin.CoreV1().Pods(f.ns).Create(f.ctx, p, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	})
}

// setPodStatus plays the kubelet: phase Running, the pod IP, Ready or not.
func (f *fixture) setPodStatus(name, ip string, ready bool) {
	f.t.Helper()
	f.setPodPhase(name, corev1.PodRunning, ip, ready)
}

// setPodPhase plays the kubelet: the phase, the pod IP, Ready or not.
func (f *fixture) setPodPhase(name string, phase corev1.PodPhase, ip string, ready bool) {
	f.t.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	patch := fmt.Sprintf(`{"status":{"phase":%q,"podIP":%q,"podIPs":[{"ip":%q}],"conditions":[{"type":"Ready","status":%q},{"type":"PodScheduled","status":"True"}]}}`, phase, ip, ip, cond)
	if _, err := f.admin.CoreV1().Pods(f.ns).Patch(f.ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		f.t.Fatalf("patch status of pod %s: %v", name, err)
	}
}

func (f *fixture) deletePod(name string) {
	f.t.Helper()
	if err := f.admin.CoreV1().Pods(f.ns).Delete(f.ctx, name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatalf("delete pod %s: %v", name, err)
	}
}

// TestServiceAccountRBAC checks the token the strategy uses holds exactly
// the minimal Role: list pods and endpointslices, nothing else.
func TestServiceAccountRBAC(t *testing.T) {
	f := newFixture(t)
	sa := f.client(f.sa)

	if _, err := sa.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list pods with the discovery token: %v", err)
	}
	t.Logf("checked: the discovery token can list pods in %s", f.ns)
	if _, err := sa.DiscoveryV1().EndpointSlices(f.ns).List(f.ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list endpointslices with the discovery token: %v", err)
	}
	t.Logf("checked: the discovery token can list endpointslices in %s", f.ns)

	if _, err := sa.CoreV1().Secrets(f.ns).List(f.ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets with the discovery token: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(f.ns).Get(f.ctx, "anything", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("get secret with the discovery token: err = %v, want Forbidden", err)
	}
	t.Logf("checked: the discovery token cannot read secrets (403)")
	_, err := sa.CoreV1().Pods(f.ns).Create(f.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "shoal.invalid/x:0"}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("create pod with the discovery token: err = %v, want Forbidden", err)
	}
	t.Logf("checked: the discovery token cannot create pods (403)")

	// The rest of the matrix, asked of the authorizer as the account itself.
	for _, tc := range []struct {
		ns, group, resource, verb string
		allowed                   bool
	}{
		{f.ns, "", "pods", "get", true},
		{f.ns, "", "pods", "list", true},
		{f.ns, "", "pods", "watch", true},
		{f.ns, discoveryv1.GroupName, "endpointslices", "get", true},
		{f.ns, discoveryv1.GroupName, "endpointslices", "list", true},
		{f.ns, discoveryv1.GroupName, "endpointslices", "watch", true},
		{f.ns, "", "pods", "create", false},
		{f.ns, "", "pods", "update", false},
		{f.ns, "", "pods", "patch", false},
		{f.ns, "", "pods", "delete", false},
		{f.ns, discoveryv1.GroupName, "endpointslices", "create", false},
		{f.ns, "", "secrets", "list", false},
		{f.ns, "", "endpoints", "list", false},
		{f.ns, "", "services", "list", false},
		{"default", "", "pods", "list", false},
		{"", "", "pods", "list", false}, // cluster-wide
	} {
		r, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(f.ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: tc.ns, Group: tc.group, Resource: tc.resource, Verb: tc.verb,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview: %v", err)
		}
		if r.Status.Allowed != tc.allowed {
			t.Errorf("%s %s.%s in %q: allowed = %v, want %v", tc.verb, tc.resource, tc.group, tc.ns, r.Status.Allowed, tc.allowed)
		}
	}
	t.Logf("checked: SelfSubjectAccessReview: only get/list/watch on pods and endpointslices in %s are allowed (16 cases)", f.ns)
}

// TestPods discovers pods by label through the minimal Role, in each mode:
// the pods that are Running with an IP, Ready or not (a fresh Deployment's
// nodes must find each other before any is Ready). It follows them
// becoming unready, failing, terminating, deleted and added.
func TestPods(t *testing.T) {
	f := newFixture(t)
	hp := map[string]string{"app": "hp"}
	for _, p := range []struct {
		name, ip     string
		ready        bool
		host, sub    string
		labels       map[string]string
		hold, status bool
		phase        corev1.PodPhase // with status; empty means Running
	}{
		{name: "hp-0", ip: "127.0.0.10", ready: true, host: "hp-0", sub: "hp", labels: hp, status: true},
		{name: "hp-1", ip: "127.0.0.11", ready: true, host: "hp-1", sub: "hp", labels: hp, status: true},
		{name: "hp-2", ip: "127.0.0.12", ready: true, labels: hp, status: true}, // no hostname
		{name: "hp-terminating", ip: "127.0.0.14", ready: true, host: "hp-terminating", sub: "hp", labels: hp, hold: true, status: true},
		{name: "hp-unready", ip: "127.0.0.13", ready: false, labels: hp, status: true},
		{name: "hp-pending", labels: hp}, // no status at all: Pending, no IP
		{name: "hp-pending-ip", ip: "127.0.0.16", labels: hp, status: true, phase: corev1.PodPending},
		{name: "hp-failed", ip: "127.0.0.17", labels: hp, status: true, phase: corev1.PodFailed},
		{name: "hp-succeeded", ip: "127.0.0.18", labels: hp, status: true, phase: corev1.PodSucceeded},
		{name: "other-0", ip: "127.0.0.20", ready: true, labels: map[string]string{"app": "other"}, status: true},
	} {
		f.createPod(p.name, podOpts{labels: p.labels, hostname: p.host, subdomain: p.sub, hold: p.hold})
		if p.status {
			f.setPodPhase(p.name, cmp.Or(p.phase, corev1.PodRunning), p.ip, p.ready)
		}
	}

	ip := f.strategy("kubernetes:app=hp")
	if ip.Name() != "kubernetes:app=hp@"+f.ns+"(pods,ip)" {
		t.Fatalf("Name() = %q", ip.Name())
	}
	if iv, ok := ip.(discovery.Interval); !ok || iv.Interval() != discovery.DefaultInterval {
		t.Fatalf("strategy %T does not report the default interval", ip)
	}
	// Lists are consistent reads: the first answer is already exact.
	f.expect(ip, []string{"127.0.0.10:7946", "127.0.0.11:7946", "127.0.0.12:7946", "127.0.0.13:7946", "127.0.0.14:7946"},
		"Running pods with an IP and the label, Ready or not (not Pending, Failed, Succeeded or other-labelled)")

	dns := f.strategy("kubernetes:app=hp?mode=dns&cluster_domain=k8s.test")
	d := func(ip string) string {
		return strings.ReplaceAll(ip, ".", "-") + "." + f.ns + ".pod.k8s.test:7946"
	}
	f.expect(dns, []string{d("127.0.0.10"), d("127.0.0.11"), d("127.0.0.12"), d("127.0.0.13"), d("127.0.0.14")}, "mode=dns pod names")

	hostname := f.strategy("kubernetes:app=hp?mode=hostname&port=9000")
	h := func(host, sub string, port int) string {
		return fmt.Sprintf("%s.%s.%s.svc.cluster.local:%d", host, sub, f.ns, port)
	}
	f.expect(hostname, []string{h("hp-0", "hp", 9000), h("hp-1", "hp", 9000), h("hp-terminating", "hp", 9000)},
		"mode=hostname names (port= option), hp-2 and hp-unready (no hostname) skipped")
	sub := f.strategy("kubernetes:app=hp?mode=hostname&subdomain=hp-headless")
	f.expect(sub, []string{h("hp-0", "hp-headless", port), h("hp-1", "hp-headless", port), h("hp-terminating", "hp-headless", port)},
		"mode=hostname with the subdomain= option")

	set := f.strategy("kubernetes:app in (hp,other)")
	f.expect(set, []string{"127.0.0.10:7946", "127.0.0.11:7946", "127.0.0.12:7946", "127.0.0.13:7946", "127.0.0.14:7946", "127.0.0.20:7946"},
		"set-based selector")

	none := f.strategy("kubernetes:app=nobody")
	f.expect(none, nil, "a selector matching nothing is an empty answer, not an error")

	// hp-1 turns unready (it stays a peer), hp-unready fails, hp-2 is
	// deleted, hp-terminating is deleted but held by a finalizer
	// (deletionTimestamp set, object still listed).
	f.setPodStatus("hp-1", "127.0.0.11", false)
	f.setPodPhase("hp-unready", corev1.PodFailed, "127.0.0.13", false)
	f.deletePod("hp-2")
	f.deletePod("hp-terminating")
	f.converge(ip, []string{"127.0.0.10:7946", "127.0.0.11:7946"}, "failed, deleted and terminating pods leave the set; an unready one stays")
	held, err := f.admin.CoreV1().Pods(f.ns).Get(f.ctx, "hp-terminating", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("hp-terminating should still exist with a deletionTimestamp: %v, %+v", err, held)
	}
	t.Logf("checked: hp-terminating is still listed by the API (deletionTimestamp %v) yet not discovered", held.DeletionTimestamp)

	// A new pod joins once it runs with an IP, before it is Ready.
	f.createPod("hp-3", podOpts{labels: hp})
	f.expect(ip, []string{"127.0.0.10:7946", "127.0.0.11:7946"}, "a new Pending pod is not discovered")
	f.setPodPhase("hp-3", corev1.PodPending, "127.0.0.15", false)
	f.expect(ip, []string{"127.0.0.10:7946", "127.0.0.11:7946"}, "nor once it has an IP but is still Pending")
	f.setPodStatus("hp-3", "127.0.0.15", false)
	f.converge(ip, []string{"127.0.0.10:7946", "127.0.0.11:7946", "127.0.0.15:7946"}, "a pod Running with an IP joins the set, Ready or not")
}

// slice builds an EndpointSlice for service svc with extra labels.
func slice(name, svc string, lbl map[string]string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	labels := map[string]string{
		discoveryv1.LabelServiceName: svc,
		discoveryv1.LabelManagedBy:   "shoal-kube-test", // not the endpointslice controller's
	}
	for k, v := range lbl {
		labels[k] = v
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: labels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("cluster"), Port: ptr(int32(port)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
}

func endpoint(addr string, ready *bool, hostname string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	if hostname != "" {
		e.Hostname = ptr(hostname)
	}
	return e
}

// TestEndpointSlices discovers endpoints from EndpointSlices the test
// writes itself (192.0.2.x documentation addresses: the API refuses
// loopback ones, and no kubelet or real pods exist). Nothing connects to
// those addresses; they are compared as strings.
func TestEndpointSlices(t *testing.T) {
	f := newFixture(t)
	app := map[string]string{"app": "hp-slices"}
	terminating := discoveryv1.Endpoint{
		Addresses:  []string{"192.0.2.4"},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)},
	}
	for _, es := range []*discoveryv1.EndpointSlice{
		slice("hp-a", "hp", app,
			endpoint("192.0.2.1", ptr(true), ""),
			endpoint("192.0.2.2", ptr(false), ""), // not ready, not terminating: a peer
			endpoint("192.0.2.3", nil, ""),        // conditions unset: a peer
			terminating),
		slice("hp-b", "hp", app, endpoint("192.0.2.5", ptr(true), "hp-5")),
		slice("other", "other", map[string]string{"app": "other"}, endpoint("192.0.2.50", ptr(true), "")),
	} {
		if _, err := f.admin.DiscoveryV1().EndpointSlices(f.ns).Create(f.ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create endpointslice %s: %v", es.Name, err)
		}
	}

	want := []string{"192.0.2.1:7946", "192.0.2.2:7946", "192.0.2.3:7946", "192.0.2.5:7946"}
	bySvc := f.strategy("kubernetes:?source=endpointslices&service=hp")
	if bySvc.Name() != "kubernetes:kubernetes.io/service-name=hp@"+f.ns+"(endpointslices,ip)" {
		t.Fatalf("Name() = %q", bySvc.Name())
	}
	f.expect(bySvc, want, "service= reads the slices labelled kubernetes.io/service-name=hp; every endpoint but the terminating one")
	f.expect(f.strategy("kubernetes:app=hp-slices?source=endpointslices"), want, "a label selector on the slices")
	f.expect(f.strategy("kubernetes:app=hp-slices?source=endpointslices&service=other"), nil, "service= ANDed with a selector that excludes it")
	d := func(ip string) string {
		return strings.ReplaceAll(ip, ".", "-") + "." + f.ns + ".pod.cluster.local:7946"
	}
	f.expect(f.strategy("kubernetes:?source=endpointslices&service=hp&mode=dns"),
		[]string{d("192.0.2.1"), d("192.0.2.2"), d("192.0.2.3"), d("192.0.2.5")}, "mode=dns from slice addresses")
	f.expect(f.strategy("kubernetes:?source=endpointslices&service=hp&mode=hostname"),
		[]string{"hp-5.hp." + f.ns + ".svc.cluster.local:7946"}, "mode=hostname from endpoint hostnames, subdomain = the service")

	// 192.0.2.1 turns unready (it stays), 192.0.2.3 terminating; slice
	// hp-b goes away.
	a, err := f.admin.DiscoveryV1().EndpointSlices(f.ns).Get(f.ctx, "hp-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Endpoints[0].Conditions.Ready = ptr(false)
	a.Endpoints[2].Conditions = terminating.Conditions
	if _, err := f.admin.DiscoveryV1().EndpointSlices(f.ns).Update(f.ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update endpointslice hp-a: %v", err)
	}
	if err := f.admin.DiscoveryV1().EndpointSlices(f.ns).Delete(f.ctx, "hp-b", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete endpointslice hp-b: %v", err)
	}
	f.converge(bySvc, []string{"192.0.2.1:7946", "192.0.2.2:7946"}, "an endpoint turning terminating and a deleted slice leave the set; one turning unready stays")
}

// TestForbidden checks that missing RBAC is one clear error wrapping
// ErrForbidden, and a bad token ErrUnauthorized.
func TestForbidden(t *testing.T) {
	f := newFixture(t)
	f.createSA("no-role")
	_, noRole := f.tokenFor("no-role", "")

	for _, tc := range []struct {
		spec, what string
		want       error
		mention    []string
	}{
		{"kubernetes:app=hp?kubeconfig=" + noRole, "a token without the Role, pods", kdisc.ErrForbidden,
			[]string{`verb "list"`, `resource "pods"`, `namespace "` + f.ns + `"`, "system:serviceaccount:" + f.ns + ":no-role"}},
		{"kubernetes:?source=endpointslices&service=hp&kubeconfig=" + noRole, "a token without the Role, endpointslices", kdisc.ErrForbidden,
			[]string{`verb "list"`, `resource "endpointslices"`, `apiGroups: ["discovery.k8s.io"]`}},
		{"kubernetes:app=hp?namespace=default", "the Role's token in another namespace", kdisc.ErrForbidden,
			[]string{`namespace "default"`, "system:serviceaccount:" + f.ns + ":" + saName}},
	} {
		s := f.strategy(tc.spec)
		_, err := s.Discover(f.ctx)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.what, err, tc.want)
		}
		for _, m := range tc.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error does not mention %q: %v", tc.what, m, err)
			}
		}
		t.Logf("checked: %s -> ErrForbidden: %v", tc.what, err)
	}

	_, bad := f.tokenFor("bogus", "not-a-valid-token")
	_, err := f.strategy("kubernetes:app=hp?kubeconfig=" + bad).Discover(f.ctx)
	if !errors.Is(err, kdisc.ErrUnauthorized) {
		t.Fatalf("bad token: err = %v, want ErrUnauthorized", err)
	}
	t.Logf("checked: an invalid token -> ErrUnauthorized: %v", err)
}

func ptr[T any](v T) *T { return &v }
