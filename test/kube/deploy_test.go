package kube_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
)

// The objects in deploy/kubernetes, by name.
const (
	hpName     = "houseparty"           // ServiceAccount, Deployment, LoadBalancer Service
	hpRole     = "houseparty-discovery" // Role and RoleBinding
	hpSecret   = "houseparty-cookie"    // created by hand, as the README says
	hpHeadless = "houseparty-headless"
	hpLabel    = "app.kubernetes.io/name"
)

// deployIPBase is the first loopback address this test gives a pod
// (127.0.0.101 and up); the other tests use 127.0.0.10-24.
const deployIPBase = 101

// TestDeploy applies deploy/kubernetes with kubectl, checks the objects and
// what the ServiceAccount's token may do, then plays the kubelet for the
// Deployment's pods: it runs the real houseparty binary once per pod, on a
// loopback address of its own, with the environment resolved from the pod's
// container spec, marks the pod Running once its node runs and Ready once
// its readiness probe answers 200, and checks the nodes form one cluster
// through the Pod objects, grow with a scale-up, hand a party off on a
// scale-down, and all exit 0 on a scale to zero.
func TestDeploy(t *testing.T) {
	f := newFixture(t)
	// This test builds and runs real nodes: give its API calls more than
	// the fixture's two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	f.ctx = ctx

	kc := newKubectl(f)
	dir := workDir(t)
	binary := buildHouseparty(t, ctx, dir)
	manifests, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}

	// a. The manifests: namespace-agnostic, valid, applied as documented.
	start := time.Now()
	checkRendered(t, kc, manifests)
	kc.must("apply", "-k", manifests, "-n", f.ns, "--server-side", "--dry-run=server", "--validate=strict")
	if _, err := f.admin.AppsV1().Deployments(f.ns).Get(ctx, hpName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after a server dry run the Deployment should not exist: err = %v", err)
	}
	t.Logf("checked: kubectl apply -k --server-side --dry-run=server: the API server validated every object (strict fields) and stored none")
	kc.must("-n", f.ns, "create", "secret", "generic", hpSecret, "--from-literal=cookie="+randomCookie(t))
	kc.must("apply", "-k", manifests, "-n", f.ns, "--validate=strict")
	dep := checkObjects(f)
	t.Logf("checked: manifests applied and inspected in %v", time.Since(start).Round(time.Millisecond))

	// b. The ServiceAccount's token may read pods in its namespace and
	// nothing else.
	start = time.Now()
	saCfg, saKubeconfig := f.tokenFor(hpName, "")
	checkDiscoveryRBAC(f, saCfg)
	t.Logf("checked: RBAC of the %s ServiceAccount in %v", hpName, time.Since(start).Round(time.Millisecond))

	// c. Nodes, one per pod of the Deployment.
	k := newKubelet(f, binary(), saKubeconfig, dir, dep)
	start = time.Now()
	k.runPods(3)
	k.converge("the Deployment's 3 pods formed one cluster through their Pod objects")
	k.checkUser()
	kc.must("-n", f.ns, "rollout", "status", "deployment/"+hpName, "--timeout=60s")
	t.Logf("checked: 3 nodes up, ready and clustered, and kubectl rollout status done, in %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	kc.must("-n", f.ns, "scale", "deployment/"+hpName, "--replicas=4")
	k.runPods(4)
	k.converge("kubectl scale --replicas=4: the 4th pod's node joined the other 3")
	t.Logf("checked: scale-up to 4 in %v", time.Since(start).Round(time.Millisecond))
	k.checkLogs()

	// A party spread over the 4 nodes survives a scale-down: the node whose
	// pod goes hands its processes off on SIGTERM.
	start = time.Now()
	procs := k.startParty()
	kc.must("-n", f.ns, "scale", "deployment/"+hpName, "--replicas=3")
	gone := k.waitPodGone()
	if procs[gone.name] == 0 {
		t.Fatalf("the node of the removed pod %s ran no processes; the handoff check would prove nothing: %v", gone.pod, procs)
	}
	k.stop(gone)
	k.converge("kubectl scale --replicas=3: the other 3 nodes saw the removed pod's node leave")
	k.checkParty(procs)
	t.Logf("checked: scale-down to 3 handed %d processes off to the 3 nodes that stay, in %v", procs[gone.name], time.Since(start).Round(time.Millisecond))

	// Scale to zero: the rest get SIGTERM together, with the party still
	// on them. Each exits 0, however their hand-offs race.
	start = time.Now()
	kc.must("-n", f.ns, "scale", "deployment/"+hpName, "--replicas=0")
	k.pods(0)
	k.stop(k.running()...)
	t.Logf("checked: kubectl scale --replicas=0: every node exited 0 after SIGTERM together, in %v", time.Since(start).Round(time.Millisecond))
}

// kubectl runs the kubectl in PATH against the test control plane as admin.
type kubectl struct {
	t          *testing.T
	ctx        context.Context
	path       string
	kubeconfig string
}

func newKubectl(f *fixture) *kubectl {
	f.t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		f.t.Fatalf("kubectl is missing (%v): TestDeploy applies deploy/kubernetes with `kubectl apply -k`; "+
			"put a kubectl within one minor version of the control plane (it bundles kustomize) in PATH", err)
	}
	return &kubectl{t: f.t, ctx: f.ctx, path: path, kubeconfig: os.Getenv(EnvKubeconfig)}
}

// run runs kubectl with args and returns its combined output.
func (k *kubectl) run(args ...string) (string, error) {
	cmd := exec.CommandContext(k.ctx, k.path, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// must runs kubectl and fails the test if it fails.
func (k *kubectl) must(args ...string) string {
	k.t.Helper()
	out, err := k.run(args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// workDir makes a directory every user may enter, for the binary, the pods'
// volumes and logs: the nodes may run as the pods' non-root user.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildHouseparty starts `go build ./cmd/houseparty` (static, as the image
// has it) into dir and returns a function that waits for the build and
// returns the binary's path. The build runs while the manifests are checked.
func buildHouseparty(t *testing.T, ctx context.Context, dir string) func() string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	out := filepath.Join(dir, "houseparty")
	// cmd/houseparty is a module of its own (it brings Kubernetes discovery).
	cmd := exec.CommandContext(ctx, goTool, "build", "-C", filepath.Join(root, "cmd", "houseparty"), "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("go build ./cmd/houseparty: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	var buildErr error
	wait := func() error {
		once.Do(func() { buildErr = <-done })
		return buildErr
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // os.ErrProcessDone once it has finished
		_ = wait()
	})
	return func() string {
		t.Helper()
		if err := wait(); err != nil {
			t.Fatalf("go build ./cmd/houseparty: %v\n%s", err, log.String())
		}
		t.Logf("checked: built ./cmd/houseparty with CGO_ENABLED=0 (ready %v after the test started it)", time.Since(start).Round(time.Millisecond))
		return out
	}
}

// randomCookie is what `openssl rand -base64 32` gives.
func randomCookie(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// checkRendered renders the kustomization and checks it holds exactly the
// expected objects, none of them tied to a namespace and no Secret.
func checkRendered(t *testing.T, kc *kubectl, dir string) {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(kc.must("kustomize", dir)), 4096)
	var got []string
	for {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Subjects []rbacv1.Subject `json:"subjects"`
		}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		id := obj.Kind + "/" + obj.Metadata.Name
		if obj.Metadata.Namespace != "" {
			t.Errorf("%s names namespace %q: the manifests must take theirs from -n", id, obj.Metadata.Namespace)
		}
		for _, s := range obj.Subjects {
			if s.Namespace != "" {
				t.Errorf("%s: subject %s names namespace %q", id, s.Name, s.Namespace)
			}
		}
		got = append(got, id)
	}
	sort.Strings(got)
	want := []string{"Deployment/" + hpName, "Role/" + hpRole, "RoleBinding/" + hpRole,
		"Service/" + hpName, "Service/" + hpHeadless, "ServiceAccount/" + hpName}
	if !slices.Equal(got, want) {
		t.Fatalf("kustomization renders %q, want %q (and no Secret: the cookie is created by hand)", got, want)
	}
	t.Logf("checked: kubectl kustomize renders %d objects, none naming a namespace, no Secret", len(got))
}

// checkObjects checks what the apply created and returns the Deployment.
func checkObjects(f *fixture) *appsv1.Deployment {
	t := f.t
	t.Helper()
	dep, err := f.admin.AppsV1().Deployments(f.ns).Get(f.ctx, hpName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	sel := map[string]string{hpLabel: hpName}
	bad := func(format string, args ...any) { t.Helper(); t.Errorf("deployment: "+format, args...) }
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		bad("replicas = %v, want 3", dep.Spec.Replicas)
	}
	if dep.Spec.Selector == nil || !sameMap(dep.Spec.Selector.MatchLabels, sel) || dep.Spec.Template.Labels[hpLabel] != hpName {
		bad("selector %v / template labels %v, want %v", dep.Spec.Selector, dep.Spec.Template.Labels, sel)
	}
	ru := dep.Spec.Strategy.RollingUpdate
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" {
		bad("strategy %+v, want RollingUpdate maxSurge 1 maxUnavailable 0", dep.Spec.Strategy)
	}
	ps := dep.Spec.Template.Spec
	if ps.ServiceAccountName != hpName {
		bad("serviceAccountName %q", ps.ServiceAccountName)
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		bad("enableServiceLinks must be false: a Service named %s would set HOUSEPARTY_PORT and other HOUSEPARTY_* variables in the binary's namespace of settings", hpName)
	}
	if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
		t.Fatalf("deployment: want exactly one container and no init containers, got %d and %d", len(ps.Containers), len(ps.InitContainers))
	}
	c := ps.Containers[0]
	if c.Image != "shoal/houseparty:latest" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		bad("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
	}
	wantPorts := map[string]string{"http": "4001/TCP", "gossip-tcp": "7946/TCP", "gossip-udp": "7946/UDP", "link": "7947/TCP"}
	if !sameMap(ports, wantPorts) {
		bad("ports %v, want %v", ports, wantPorts)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for name, want := range map[string]string{
		"PORT": "4001", "SHOAL_CLUSTER_PORT": "7946", "SHOAL_LINK_PORT": "7947", "SHOAL_HOST": "$(POD_IP)",
		"SHOAL_BASENAME": hpName, "HOUSEPARTY_GREETING": "v1", "SHOAL_COOKIE_FILE": "/etc/houseparty/cookie",
	} {
		if env[name] != want {
			bad("env %s = %q, want %q", name, env[name], want)
		}
	}
	if !strings.HasPrefix(env["SHOAL_DISCOVERY"], "kubernetes:"+hpLabel+"="+hpName) {
		bad("SHOAL_DISCOVERY %q does not select the Deployment's pods", env["SHOAL_DISCOVERY"])
	}
	checkProbe := func(what string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
			bad("%s probe %+v, want httpGet %s on port http", what, p, path)
		}
	}
	checkProbe("readiness", c.ReadinessProbe, "/readyz")
	checkProbe("liveness", c.LivenessProbe, "/healthz")
	preStop := int64(0)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil ||
		c.Lifecycle.PreStop.Sleep.Seconds < 1 || c.Lifecycle.PreStop.Sleep.Seconds > 15 {
		bad("lifecycle %+v, want a preStop sleep of a few seconds", c.Lifecycle)
	} else {
		preStop = c.Lifecycle.PreStop.Sleep.Seconds
	}
	// The binary needs up to 40 s after SIGTERM (see cmd/houseparty's
	// shutdown steps).
	if g := ps.TerminationGracePeriodSeconds; g == nil || *g < preStop+40 {
		bad("terminationGracePeriodSeconds %v, want at least preStop (%d s) + 40 s", g, preStop)
	}
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	r := c.Resources
	if !r.Requests.Cpu().Equal(q("100m")) || !r.Requests.Memory().Equal(q("64Mi")) || !r.Limits.Memory().Equal(q("256Mi")) {
		bad("resources %+v, want requests cpu 100m memory 64Mi, limit memory 256Mi", r)
	}
	psc, sc := ps.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("deployment: pod and container securityContext are required")
	}
	if !isTrue(sc.RunAsNonRoot) || !is(sc.RunAsUser, 65532) || !is(sc.RunAsGroup, 65532) || !isTrue(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("container securityContext %+v", sc)
	}
	if !isTrue(psc.RunAsNonRoot) || !is(psc.RunAsUser, 65532) || !is(psc.FSGroup, 65532) {
		bad("pod securityContext %+v", psc)
	}
	// The cookie: a read-only Secret volume the non-root user can read.
	var cookieVol *corev1.Volume
	for i, v := range ps.Volumes {
		if v.Secret != nil && v.Secret.SecretName == hpSecret {
			cookieVol = &ps.Volumes[i]
		}
	}
	if cookieVol == nil {
		t.Fatalf("deployment: no volume of the Secret %s", hpSecret)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == cookieVol.Name && m.ReadOnly && strings.HasPrefix(env["SHOAL_COOKIE_FILE"], m.MountPath+"/"))
	}
	if !mounted {
		bad("the Secret volume %s is not mounted read-only where SHOAL_COOKIE_FILE points", cookieVol.Name)
	}
	if m := cookieVol.Secret.DefaultMode; m == nil || *m&0o004 != 0 || (*m&0o040 == 0 && psc.FSGroup == nil) {
		bad("cookie volume defaultMode %v: want no world read, and group read with an fsGroup", m)
	}
	t.Logf("checked: Deployment %s: 3 replicas, rolling update 1/0, probes /readyz and /healthz on port http, preStop sleep %d s, "+
		"grace %d s, resources, non-root read-only securityContext, cookie from Secret %s", hpName, preStop, *ps.TerminationGracePeriodSeconds, hpSecret)

	lb, err := f.admin.CoreV1().Services(f.ns).Get(f.ctx, hpName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service %s: %v", hpName, err)
	}
	if lb.Spec.Type != corev1.ServiceTypeLoadBalancer || len(lb.Spec.Ports) != 1 || lb.Spec.Ports[0].Port != 80 ||
		lb.Spec.Ports[0].TargetPort != intstr.FromString("http") || !sameMap(lb.Spec.Selector, sel) {
		t.Errorf("service %s: %+v, want LoadBalancer 80 -> http", hpName, lb.Spec)
	}
	hl, err := f.admin.CoreV1().Services(f.ns).Get(f.ctx, hpHeadless, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service %s: %v", hpHeadless, err)
	}
	hlPorts := map[string]string{}
	for _, p := range hl.Spec.Ports {
		hlPorts[p.Name] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	}
	if hl.Spec.ClusterIP != corev1.ClusterIPNone || !hl.Spec.PublishNotReadyAddresses || !sameMap(hl.Spec.Selector, sel) ||
		!sameMap(hlPorts, map[string]string{"gossip-tcp": "7946/TCP", "gossip-udp": "7946/UDP"}) {
		t.Errorf("service %s: %+v, want headless, publishNotReadyAddresses, gossip 7946 TCP and UDP", hpHeadless, hl.Spec)
	}
	t.Logf("checked: Service %s (LoadBalancer 80 -> http) and %s (headless, not-ready addresses published, 7946 TCP+UDP)", hpName, hpHeadless)

	if _, err := f.admin.CoreV1().ServiceAccounts(f.ns).Get(f.ctx, hpName, metav1.GetOptions{}); err != nil {
		t.Errorf("get serviceaccount %s: %v", hpName, err)
	}
	role, err := f.admin.RbacV1().Roles(f.ns).Get(f.ctx, hpRole, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get role %s: %v", hpRole, err)
	}
	wantRule := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].APIGroups, wantRule.APIGroups) ||
		!slices.Equal(role.Rules[0].Resources, wantRule.Resources) || !slices.Equal(role.Rules[0].Verbs, wantRule.Verbs) ||
		len(role.Rules[0].ResourceNames) != 0 || len(role.Rules[0].NonResourceURLs) != 0 {
		t.Errorf("role %s rules %+v, want only %+v", hpRole, role.Rules, wantRule)
	}
	rb, err := f.admin.RbacV1().RoleBindings(f.ns).Get(f.ctx, hpRole, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get rolebinding %s: %v", hpRole, err)
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != hpRole || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != rbacv1.ServiceAccountKind || rb.Subjects[0].Name != hpName {
		t.Errorf("rolebinding %s: roleRef %+v subjects %+v", hpRole, rb.RoleRef, rb.Subjects)
	}
	t.Logf("checked: ServiceAccount %s, Role %s (get/list/watch pods only), RoleBinding %s", hpName, hpRole, hpRole)
	if t.Failed() {
		t.FailNow()
	}
	return dep
}

// sameMap reports whether a and b hold the same keys and values.
func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

func is(p *int64, v int64) bool { return p != nil && *p == v }

// checkDiscoveryRBAC asks the authorizer, as the ServiceAccount itself,
// what its token may do: get, list and watch pods in its namespace and
// nothing else.
func checkDiscoveryRBAC(f *fixture, cfg *rest.Config) {
	t := f.t
	t.Helper()
	sa := f.client(cfg)
	review := func(a authorizationv1.ResourceAttributes) bool {
		t.Helper()
		r, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(f.ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview: %v", err)
		}
		return r.Status.Allowed
	}
	// The authorizer learns of the RoleBinding through its informers.
	f.eventually(10*time.Second, "the "+hpName+" ServiceAccount may list pods", func() (bool, string) {
		return review(authorizationv1.ResourceAttributes{Namespace: f.ns, Resource: "pods", Verb: "list"}), "denied"
	})
	cases := []struct {
		ns, group, resource, sub, verb string
		allowed                        bool
	}{
		{f.ns, "", "pods", "", "get", true},
		{f.ns, "", "pods", "", "list", true},
		{f.ns, "", "pods", "", "watch", true},
		{f.ns, "", "secrets", "", "get", false},
		{f.ns, "", "secrets", "", "list", false},
		{f.ns, "", "secrets", "", "watch", false},
		{f.ns, "", "pods", "", "create", false},
		{f.ns, "", "pods", "", "update", false},
		{f.ns, "", "pods", "", "patch", false},
		{f.ns, "", "pods", "", "delete", false},
		{f.ns, "", "pods", "", "deletecollection", false},
		{f.ns, "", "pods", "status", "patch", false},
		{f.ns, "", "pods", "status", "update", false},
		{f.ns, "", "pods", "log", "get", false},
		{f.ns, "", "pods", "exec", "create", false},
		{f.ns, "", "configmaps", "", "get", false},
		{f.ns, "", "services", "", "list", false},
		{f.ns, "", "endpoints", "", "list", false},
		{f.ns, discoveryv1.GroupName, "endpointslices", "", "list", false},
		{f.ns, "apps", "deployments", "", "get", false},
		{f.ns, "*", "*", "", "create", false},
		{"default", "", "pods", "", "list", false},
		{"kube-system", "", "pods", "", "get", false},
		{"", "", "pods", "", "list", false}, // cluster-wide
		{"", "", "namespaces", "", "get", false},
	}
	for _, tc := range cases {
		got := review(authorizationv1.ResourceAttributes{Namespace: tc.ns, Group: tc.group, Resource: tc.resource, Subresource: tc.sub, Verb: tc.verb})
		if got != tc.allowed {
			res := tc.resource
			if tc.sub != "" {
				res += "/" + tc.sub
			}
			t.Errorf("%s %s (group %q) in namespace %q: allowed = %v, want %v", tc.verb, res, tc.group, tc.ns, got, tc.allowed)
		}
	}
	t.Logf("checked: SelfSubjectAccessReview with the %s token: get/list/watch pods in %s allowed; %d other requests denied "+
		"(secrets, pod writes, pods/status, configmaps, endpointslices, create anything, other namespaces)", hpName, f.ns, len(cases)-3)

	if _, err := sa.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list pods with the %s token: %v", hpName, err)
	}
	_, err := sa.CoreV1().Secrets(f.ns).List(f.ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets with the %s token: err = %v, want 403 Forbidden", hpName, err)
	}
	t.Logf("checked: with the %s token listing pods works and listing secrets is 403 Forbidden", hpName)
}
