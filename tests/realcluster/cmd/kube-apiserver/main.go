// Command kube-apiserver is the real Kubernetes API server, built from the
// k8s.io/kubernetes module so the tests can run against the real thing.
package main

import (
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"meshcluster/tests/realcluster/internal/component"
)

func main() {
	component.Run(app.NewAPIServerCommand())
}
