package main

// Tests that keep the example configurations (configs/) and the deployment
// files (deploy/) true: every example passes `tollgate config check`, the
// Kubernetes manifests and the systemd unit agree with the configurations
// they run, and the Dockerfile builds what `make build` builds. The checks
// that need the registry's own code (the compose file and the registry's
// configuration agree with Tollgate's; the documented key procedure yields
// tokens the registry accepts) are in the interop module,
// interop/configs_test.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/server"
)

const (
	repoRoot   = "../.."
	configsDir = repoRoot + "/configs"
	deployDir  = repoRoot + "/deploy"
)

// exampleConfigs lists configs/*.yaml but the test tables (*-tests.yaml,
// e.g. acl-tests.yaml), which are not configurations.
func exampleConfigs(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasSuffix(p, "-tests.yaml") {
			out = append(out, p)
		}
	}
	for _, want := range []string{"tollgate.yaml", "single-node.yaml", "ha-postgres.yaml"} {
		if !slices.Contains(out, filepath.Join(configsDir, want)) {
			t.Errorf("configs/%s is missing (found %v)", want, out)
		}
	}
	return out
}

func TestConfigsPassConfigCheck(t *testing.T) {
	clearTollgateEnv(t) // the files alone, without this shell's overrides
	for _, path := range exampleConfigs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, err := runCLI(t, "", "config", "check", "--config", path)
			if err != nil {
				t.Fatalf("tollgate config check --config %s: %v\n%s", path, err, out)
			}
			if !strings.Contains(out, ": ok") {
				t.Errorf("output %q does not say ok", out)
			}
		})
	}
}

// The harness above can fail: an unknown key is refused.
func TestConfigsCheckRefusesUnknownKey(t *testing.T) {
	clearTollgateEnv(t)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("store:\n  kind: sqlite\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "", "config", "check", "--config", path)
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `"store.kind"`) {
		t.Errorf("config check of an unknown key: err %v, out %q; want ErrInvalid naming store.kind", err, out)
	}
}

// loadExample loads and validates an example without environment overrides
// but those in env.
func loadExample(t *testing.T, name string, env map[string]string) *config.Config {
	t.Helper()
	e2etest.OnlyEnv(t, env)
	cfg, err := loadConfig(filepath.Join(configsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The parts of Kubernetes objects the tests look at.
type (
	k8sMeta struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	k8sContainer struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name      string `yaml:"name"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext *struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	k8sDeployment struct {
		Spec struct {
			Replicas int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot *bool `yaml:"runAsNonRoot"`
						RunAsUser    int   `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					InitContainers []k8sContainer `yaml:"initContainers"`
					Containers     []k8sContainer `yaml:"containers"`
					Volumes        []struct {
						Name      string `yaml:"name"`
						ConfigMap *struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
						Secret *struct {
							SecretName string `yaml:"secretName"`
						} `yaml:"secret"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
)

func (c k8sContainer) mountOf(volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

func TestConfigsKubernetesManifests(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	objects := map[string]map[string]any{} // "Kind/name"
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, doc := range e2etest.YAMLDocs(t, f) {
			var m k8sMeta
			e2etest.DecodeYAML(t, doc, &m)
			if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", filepath.Base(f))
			}
			objects[m.Kind+"/"+m.Metadata.Name] = doc
		}
	}
	object := func(key string) map[string]any {
		t.Helper()
		o, ok := objects[key]
		if !ok {
			t.Fatalf("no %s in deploy/kubernetes", key)
		}
		return o
	}

	// kustomization.yaml names existing files, and never the placeholder Secrets.
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	e2etest.DecodeYAML(t, e2etest.YAMLDocs(t, filepath.Join(dir, "kustomization.yaml"))[0], &kust)
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	if slices.Contains(kust.Resources, "secret.yaml") {
		t.Error("kustomization.yaml applies secret.yaml: an apply would replace the real keys with placeholders")
	}

	// The ConfigMap carries configs/ha-postgres.yaml verbatim.
	cm := object("ConfigMap/tollgate-config")
	want, err := os.ReadFile(filepath.Join(configsDir, "ha-postgres.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := cm["data"].(map[string]any)
	if got, _ := data["tollgate.yaml"].(string); got != string(want) {
		t.Errorf("configmap.yaml's tollgate.yaml differs from configs/ha-postgres.yaml; copy the file into it")
	}
	cfg := loadExample(t, "ha-postgres.yaml", map[string]string{"TOLLGATE_STORE_DSN": "postgres://u:p@db:5432/tollgate"})

	var d k8sDeployment
	e2etest.DecodeYAML(t, object("Deployment/tollgate"), &d)
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", d.Spec.Replicas)
	}
	if sc := spec.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == 0 {
		t.Errorf("pod securityContext must run as non-root with a UID: %+v", sc)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, drop ALL", c.Name)
		}
		if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("container %s: want memory requests and limits", c.Name)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, have %d", len(spec.Containers))
	}
	c := spec.Containers[0]

	// Probes hit documented routes on the port Tollgate listens on.
	documented, err := server.DocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(cfg.Server.Addr)
	for name, p := range map[string]*k8sProbe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s probe", name)
			continue
		}
		if !slices.Contains(documented, server.Route{Method: http.MethodGet, Path: p.HTTPGet.Path}) {
			t.Errorf("%s probe GET %s is not a documented route", name, p.HTTPGet.Path)
		}
		found := false
		for _, cp := range c.Ports {
			found = found || (cp.Name == p.HTTPGet.Port && fmt.Sprint(cp.ContainerPort) == port)
		}
		if !found {
			t.Errorf("%s probe port %q is not the container port %s of server.addr", name, p.HTTPGet.Port, port)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/health" ||
		c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/ready" {
		t.Error("liveness must probe /health and readiness /ready")
	}

	// The configuration, key and htpasswd are mounted where the config says.
	volumes := map[string]string{} // volume name -> ConfigMap or Secret name
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			volumes[v.Name] = "ConfigMap/" + v.ConfigMap.Name
		case v.Secret != nil:
			volumes[v.Name] = "Secret/" + v.Secret.SecretName
		}
	}
	secrets := map[string]map[string]any{}
	for _, doc := range e2etest.YAMLDocs(t, filepath.Join(dir, "secret.yaml")) {
		var m k8sMeta
		e2etest.DecodeYAML(t, doc, &m)
		data, _ := doc["stringData"].(map[string]any)
		secrets["Secret/"+m.Metadata.Name] = data
	}
	configArg := strings.Join(c.Args, " ")
	if cm := c.mountOf("config"); volumes["config"] != "ConfigMap/tollgate-config" || configArg != "--config "+cm+"/tollgate.yaml" {
		t.Errorf("args %q do not name the ConfigMap's tollgate.yaml (mounted at %q from %q)", configArg, cm, volumes["config"])
	}
	if got := c.mountOf("signing-key"); got != filepath.Dir(cfg.Keys.PrivateKey) || got != filepath.Dir(cfg.Keys.Certificate) {
		t.Errorf("the signing key is mounted at %q; keys.private_key is %s", got, cfg.Keys.PrivateKey)
	}
	if got := c.mountOf("users"); got != filepath.Dir(cfg.Users.Htpasswd) {
		t.Errorf("the users Secret is mounted at %q; users.htpasswd is %s", got, cfg.Users.Htpasswd)
	}
	for volume, file := range map[string]string{"signing-key-secret": "signing.pem", "users": filepath.Base(cfg.Users.Htpasswd)} {
		if _, ok := secrets[volumes[volume]][file]; !ok {
			t.Errorf("volume %s is %s, which secret.yaml does not define with %s", volume, volumes[volume], file)
		}
	}
	dsnFromSecret := false
	for _, e := range c.Env {
		if e.Name == "TOLLGATE_STORE_DSN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			_, dsnFromSecret = secrets["Secret/"+e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]
		}
	}
	if !dsnFromSecret || cfg.Store.Type != "postgres" {
		t.Error("TOLLGATE_STORE_DSN must come from a Secret of secret.yaml, for store.type postgres")
	}

	// The Service and the PodDisruptionBudget select the pods.
	labels := d.Spec.Template.Metadata.Labels
	for _, key := range []string{"Service/tollgate", "PodDisruptionBudget/tollgate"} {
		o := object(key)
		s, _ := o["spec"].(map[string]any)
		sel, _ := s["selector"].(map[string]any)
		if ml, ok := sel["matchLabels"].(map[string]any); ok {
			sel = ml
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", key, k, v)
			}
		}
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", key)
		}
	}
	if pdb := object("PodDisruptionBudget/tollgate")["spec"].(map[string]any); pdb["minAvailable"] != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1 of 2", pdb["minAvailable"])
	}
}

// TestConfigsDockerfileMatchesMakefile checks that deploy/Dockerfile builds
// the way `make build` does and copies every package the build needs.
func TestConfigsDockerfileMatchesMakefile(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindSubmatch(makefile)
	build := regexp.MustCompile(`(?m)^build:.*\n\t(.+)$`).FindSubmatch(makefile)
	if ldflags == nil || build == nil {
		t.Fatal("Makefile has no LDFLAGS or build recipe")
	}
	// `make build` with make's variables as the Dockerfile spells them.
	want := strings.NewReplacer(
		"$(GO)", "go",
		"'$(LDFLAGS)'", `"`+strings.ReplaceAll(strings.TrimSpace(string(ldflags[1])), "$(VERSION)", "${VERSION}")+`"`,
		"-o bin/tollgate", "-o /out/tollgate",
	).Replace(strings.TrimSpace(string(build[1])))
	if !strings.Contains(string(dockerfile), "RUN "+want+"\n") {
		t.Errorf("deploy/Dockerfile does not run the Makefile's build:\n  RUN %s", want)
	}
	for _, must := range []string{"FROM golang:1.26 AS build", "USER 65532:65532", "EXPOSE 5001",
		`ENTRYPOINT ["/usr/local/bin/tollgate", "serve"]`, "COPY configs/tollgate.yaml /app/configs/tollgate.yaml",
		"ARG VERSION=dev"} {
		if !strings.Contains(string(dockerfile), must) {
			t.Errorf("deploy/Dockerfile lacks %q", must)
		}
	}
	// Every top-level directory holding Go code is copied into the builder.
	copied := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^COPY (\S+) \./`).FindAllStringSubmatch(string(dockerfile), -1) {
		copied[m[1]] = true
	}
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "deploy" {
			continue
		}
		hasGo := false
		_ = filepath.WalkDir(filepath.Join(repoRoot, e.Name()), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				hasGo = true
				return filepath.SkipAll
			}
			return nil
		})
		if hasGo && !copied[e.Name()] {
			t.Errorf("deploy/Dockerfile does not COPY %s/ into the builder", e.Name())
		}
	}
	if len(copied) < 4 {
		t.Errorf("found only %v copied: the pattern is stale", copied)
	}
}

// TestConfigsSystemdUnit checks the hardening of deploy/systemd/tollgate.service
// and that it runs configs/single-node.yaml's layout.
func TestConfigsSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "systemd", "tollgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("unit line %q is not key=value", line)
			continue
		}
		settings[k] = append(settings[k], v)
	}
	for key, want := range map[string]string{
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter":        "@system-service",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"User":                    "tollgate",
	} {
		if !slices.Contains(settings[key], want) {
			t.Errorf("%s=%s is missing (have %q)", key, want, settings[key])
		}
	}
	cfg := loadExample(t, "single-node.yaml", nil)
	start := strings.Join(settings["ExecStart"], " ")
	if !strings.HasSuffix(start, " serve --config /etc/tollgate/tollgate.yaml") {
		t.Errorf("ExecStart=%s does not serve /etc/tollgate/tollgate.yaml", start)
	}
	if dataDir := filepath.Dir(cfg.Store.Path); !slices.Contains(settings["ReadWritePaths"], dataDir) ||
		!slices.Contains(settings["StateDirectory"], filepath.Base(dataDir)) {
		t.Errorf("the store (%s) is not in ReadWritePaths %v / StateDirectory %v", cfg.Store.Path,
			settings["ReadWritePaths"], settings["StateDirectory"])
	}
}

// TestRoutesOfTheAppAreDocumented walks the router of the application as
// serve builds it (every option the configuration sets) and checks each
// route against the OpenAPI document served at /api-docs/openapi.json.
func TestRoutesOfTheAppAreDocumented(t *testing.T) {
	clearTollgateEnv(t)
	_, cfg := tollgateDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	served := server.Routes(a.handler)
	if len(served) == 0 {
		t.Fatal("server.Routes found no route: is the app's handler still the one server.New returns?")
	}
	documented, err := server.DocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range served {
		if !slices.Contains(documented, rt) {
			t.Errorf("%s is served but not documented in server/apidocs/openapi.json", rt)
		}
	}
	for _, want := range []server.Route{{Method: http.MethodPost, Path: "/api/tokens"}, {Method: http.MethodGet, Path: "/api-docs/"}} {
		if !slices.Contains(served, want) {
			t.Errorf("the app does not serve %s", want)
		}
	}
}
