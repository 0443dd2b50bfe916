// kstatus prints how sigs.k8s.io/cli-utils' kstatus reads Kubernetes objects, the
// same computation Helm 4 `--wait`, kpt and Flux use: one line per object read
// from standard input (a JSON object or a JSON List, as `kubectl get -o json`
// prints), "STATUS<TAB>MESSAGE", STATUS one of InProgress, Failed, Current,
// Terminating, NotFound, Unknown. A test tool of the e2e suite.
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading standard input:", err)
		os.Exit(2)
	}
	decoded, _, err := unstructured.UnstructuredJSONScheme.Decode(data, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: standard input is not a Kubernetes object or list:", err)
		os.Exit(2)
	}
	var items []*unstructured.Unstructured
	switch o := decoded.(type) {
	case *unstructured.UnstructuredList:
		for i := range o.Items {
			items = append(items, &o.Items[i])
		}
	case *unstructured.Unstructured:
		items = append(items, o)
	default:
		fmt.Fprintf(os.Stderr, "kstatus: unexpected object %T\n", decoded)
		os.Exit(2)
	}
	for _, u := range items {
		res, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%s\n", res.Status, res.Message)
	}
}
