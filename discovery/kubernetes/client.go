package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// newListClient returns a REST client for one API group version whose
// decoder knows only core/v1 and discovery/v1. Discovery makes one kind of
// call, a List; client-go's generated typed clients would register every
// API group of Kubernetes in the binary (about 7 MB of the House Party
// image), so this package uses client-go's REST client directly.
func newListClient(rc *rest.Config, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register core/v1: %w", err)
	}
	if err := discoveryv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register discovery/v1: %w", err)
	}
	cfg := rest.CopyConfig(rc)
	cfg.GroupVersion = &gv
	cfg.APIPath = apiPath
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.ContentType == "" {
		cfg.ContentType = runtime.ContentTypeJSON
	}
	return rest.RESTClientFor(cfg)
}

// env is what New reads from the process environment; tests substitute it.
type env struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	// inCluster loads the pod's service-account config; it returns
	// rest.ErrNotInCluster outside a pod.
	inCluster func() (*rest.Config, error)
}

func osEnv() env {
	return env{getenv: os.Getenv, readFile: os.ReadFile, inCluster: rest.InClusterConfig}
}

// loadREST finds credentials: an explicit kubeconfig path, else the
// in-cluster service account, else $KUBECONFIG / ~/.kube/config. It
// returns the config, a description of where it came from, and the
// kubeconfig context's namespace ("" if none).
func loadREST(kubeconfig string, e env) (*rest.Config, string, string, error) {
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		return fromKubeconfig(rules, "kubeconfig "+kubeconfig)
	}
	rc, err := e.inCluster()
	switch {
	case err == nil:
		return rc, "the pod's service account", "", nil
	case !errors.Is(err, rest.ErrNotInCluster):
		return nil, "", "", fmt.Errorf("%w: running in a pod but the service account is unusable: %w", ErrNoCredentials, err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if p := e.getenv(clientcmd.RecommendedConfigPathEnvVar); p != "" {
		rules.Precedence = strings.Split(p, string(os.PathListSeparator))
	}
	desc := "kubeconfig " + strings.Join(rules.Precedence, string(os.PathListSeparator))
	return fromKubeconfig(rules, desc)
}

func fromKubeconfig(rules *clientcmd.ClientConfigLoadingRules, desc string) (*rest.Config, string, string, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", "", fmt.Errorf("%w: not in a pod, no kubeconfig= option, and no usable kubeconfig (%s)", ErrNoCredentials, desc)
		}
		return nil, "", "", fmt.Errorf("%w: %s: %w", ErrNoCredentials, desc, err)
	}
	ns, _, err := cc.Namespace() // "default" when the context names none
	if err != nil {
		ns = ""
	}
	return rc, desc, ns, nil
}

// defaultNamespace picks the namespace when none is configured: the
// service-account namespace file, $POD_NAMESPACE, the kubeconfig
// context's namespace, "default".
func defaultNamespace(e env, kubeconfigNS string) string {
	if b, err := e.readFile(NamespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	if ns := strings.TrimSpace(e.getenv("POD_NAMESPACE")); ns != "" {
		return ns
	}
	if kubeconfigNS != "" {
		return kubeconfigNS
	}
	return DefaultNamespace
}

// warningLogger sends API server warnings (deprecations) to the strategy's
// logger instead of client-go's global klog.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeaderWithContext(ctx context.Context, code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.log.WarnContext(ctx, "kubernetes API warning", "warning", text)
}
