package ecr

import (
	"context"
	"encoding/base64"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/registry"
)

// GetAuthorizationToken returns a registry password for the caller's access
// key: base64("AWS:" + token), valid for registry.TokenTTL. The token is
// signed, not stored (see registry.Registry.IssueToken); deleting the access
// key revokes it. One entry is returned per requested registry id (the
// token works for every repository the caller owns), or one without ids.
func (s *Service) GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput) (*ecr.GetAuthorizationTokenOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if id.AccessKeyID == "" {
		return nil, invalidParameter("Authorization tokens can only be issued to requests signed with an access key")
	}
	tok, exp := s.Registry.IssueToken(id.AccessKeyID)
	data := types.AuthorizationData{
		AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte(registry.TokenUser + ":" + tok))),
		ExpiresAt:          aws.Time(exp.UTC()),
		ProxyEndpoint:      aws.String(s.endpoint(ctx)),
	}
	n := max(len(in.RegistryIds), 1)
	out := &ecr.GetAuthorizationTokenOutput{}
	for range n {
		out.AuthorizationData = append(out.AuthorizationData, data)
	}
	return out, nil
}
