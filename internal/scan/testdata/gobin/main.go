// Command gobin is copied into a temporary module and built by the scan tests:
// a Go binary whose build info lists golang.org/x/text.
package main

import (
	"fmt"

	"golang.org/x/text/transform"
)

func main() {
	s, _, _ := transform.String(transform.Nop, "hello")
	fmt.Println(s)
}
