package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/registry"
)

func adminCmd() *cobra.Command {
	var endpoint, region, profile string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage accounts, access keys and the registry (as root, using the standard AWS credential chain)",
	}
	cmd.PersistentFlags().StringVar(&endpoint, "endpoint-url", "", "Wharf URL (default $WHARF_ENDPOINT_URL, $AWS_ENDPOINT_URL, or http://127.0.0.1:8080)")
	cmd.PersistentFlags().StringVar(&region, "region", "", "region to sign for (default from the AWS config, or us-east-1)")
	cmd.PersistentFlags().StringVar(&profile, "profile", "", "AWS profile to take credentials from")

	// call runs one admin operation and prints its JSON answer.
	call := func(ctx context.Context, op string, in any) error {
		var opts []func(*config.LoadOptions) error
		if profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(profile))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return fmt.Errorf("load AWS configuration: %w", err)
		}
		c := &admin.Client{Endpoint: firstNonEmpty(endpoint, os.Getenv("WHARF_ENDPOINT_URL"), os.Getenv("AWS_ENDPOINT_URL"), "http://127.0.0.1:8080"),
			Region: firstNonEmpty(region, cfg.Region, "us-east-1"), Credentials: cfg.Credentials}
		var out json.RawMessage
		if err := c.Call(ctx, op, in, &out); err != nil {
			return err
		}
		var pretty any
		json.Unmarshal(out, &pretty)
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(pretty)
	}

	var name, accountID, keyID string
	create := &cobra.Command{Use: "create-account", Short: "Create an account and its first access key; prints the keys",
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c.Context(), "CreateAccount", admin.CreateAccountInput{Name: &name})
		}}
	create.Flags().StringVar(&name, "name", "", "account name")
	create.MarkFlagRequired("name")

	list := &cobra.Command{Use: "list-accounts", Short: "List accounts",
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c.Context(), "ListAccounts", admin.ListAccountsInput{})
		}}

	createKey := &cobra.Command{Use: "create-access-key", Short: "Add an access key pair to an account; prints the keys",
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c.Context(), "CreateAccessKey", admin.CreateAccessKeyInput{AccountId: &accountID})
		}}
	createKey.Flags().StringVar(&accountID, "account-id", "", "12-digit account id")
	createKey.MarkFlagRequired("account-id")

	listKeys := &cobra.Command{Use: "list-access-keys", Short: "List an account's access key ids",
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c.Context(), "ListAccessKeys", admin.ListAccessKeysInput{AccountId: &accountID})
		}}
	listKeys.Flags().StringVar(&accountID, "account-id", "", "12-digit account id")
	listKeys.MarkFlagRequired("account-id")

	deleteKey := &cobra.Command{Use: "delete-access-key", Short: "Delete an access key",
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c.Context(), "DeleteAccessKey", admin.DeleteAccessKeyInput{AccessKeyId: &keyID})
		}}
	deleteKey.Flags().StringVar(&keyID, "access-key-id", "", "access key id")
	deleteKey.MarkFlagRequired("access-key-id")

	var dryRun, deleteUntagged bool
	var grace time.Duration
	gc := &cobra.Command{Use: "registry-gc", Short: "Garbage-collect the image registry: unreferenced blobs and stale uploads (safe while pushes run)",
		Long: `Removes blobs that no manifest references and uploads left unfinished, once their data,
repository links and upload writes are older than the grace period. Pushes may go on meanwhile.
With --delete-untagged it also deletes manifests that no tag reaches (directly, or as an index
child, subject or referrer of a manifest that stays). Prints what was (with --dry-run: would be)
removed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if grace < 0 {
				return fmt.Errorf("--grace must not be negative")
			}
			// Round up: a shorter grace than asked for could remove
			// content a push is about to reference.
			secs := int64((grace + time.Second - 1) / time.Second)
			return call(c.Context(), "GarbageCollectRegistry", admin.GarbageCollectRegistryInput{
				DryRun: &dryRun, GracePeriodSeconds: &secs, DeleteUntagged: &deleteUntagged})
		}}
	gc.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed without removing anything")
	gc.Flags().DurationVar(&grace, "grace", registry.DefaultGCGrace, "keep content written more recently than this (rounded up to whole seconds)")
	gc.Flags().BoolVar(&deleteUntagged, "delete-untagged", false, "also delete manifests no tag reaches")

	cmd.AddCommand(create, list, createKey, listKeys, deleteKey, gc)
	return cmd
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
