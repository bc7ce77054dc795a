package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/wharfml/wharf/internal/admin"
)

func adminCmd() *cobra.Command {
	var endpoint, region, profile string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage accounts and access keys (as root, using the standard AWS credential chain)",
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

	cmd.AddCommand(create, list, createKey, listKeys, deleteKey)
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
