package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// RemoveLeftovers removes every container and network carrying labels and
// the directory workDir (a job's or endpoint's), carrying on past failures,
// which it returns joined.
func RemoveLeftovers(ctx context.Context, rt Runtime, labels map[string]string, workDir string) error {
	var errs []error
	cs, err := rt.List(ctx, labels)
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, ci := range cs {
		if err := rt.Remove(ctx, ci.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove container: %w", err))
		}
	}
	nets, err := rt.ListNetworks(ctx, labels)
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range nets {
		if err := rt.RemoveNetwork(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("remove network: %w", err))
		}
	}
	if workDir != "" {
		if err := os.RemoveAll(workDir); err != nil {
			errs = append(errs, fmt.Errorf("remove work dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
