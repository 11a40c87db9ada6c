// kube-yaml: reads one YAML document on stdin and prints it as JSON the way Kubernetes reads
// manifests (sigs.k8s.io/yaml, the version the API server and kubectl of the test cluster
// use). The reference of rofs's YAML reader in crates/manifest/tests/kube_yaml.rs.
package main

import (
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	b, _ := io.ReadAll(os.Stdin)
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(string(j))
}
