package sagemaker

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/store"
)

// maxTags is the service's per-resource tag limit.
const maxTags = 50

// create stores a new resource whose Describe document is doc, then its tags.
func (s *Service) create(ctx context.Context, r store.Resource, doc any, tags []types.Tag) error {
	if len(tags) > maxTags {
		return validationError("Too many tags: a resource can have at most %d.", maxTags)
	}
	if err := checkTagKeysUnique(tags); err != nil {
		return err
	}
	body, err := awsjson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", r.Type, r.Name, err)
	}
	r.Doc = body
	if err := s.Store.CreateResource(ctx, r); err != nil {
		return err
	}
	if len(tags) > 0 {
		if err := s.Store.PutTags(ctx, r.ARN, toStoreTags(tags)); err != nil {
			return err
		}
	}
	return nil
}

// update writes a changed Describe document back, if nobody changed the
// resource since r was read (else store.ErrConflict).
func (s *Service) update(ctx context.Context, r store.Resource, doc any, status string, now time.Time) error {
	body, err := awsjson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", r.Type, r.Name, err)
	}
	r.Doc, r.Status, r.Modified = body, status, now
	_, err = s.Store.UpdateResource(ctx, r)
	return err
}

// notify tells the controllers that resources of a kind changed.
func (s *Service) notify(kind string) {
	if s.Notify != nil {
		s.Notify(kind)
	}
}

// blobListOne asks for at most one object under a prefix.
func blobListOne(prefix string) blob.ListOptions {
	return blob.ListOptions{Prefix: prefix, MaxKeys: 1}
}

// get loads a resource and decodes its Describe document into doc.
func (s *Service) get(ctx context.Context, account, typ, name string, doc any) (store.Resource, error) {
	r, err := s.Store.GetResource(ctx, account, typ, name)
	if err != nil {
		return r, err
	}
	if err := awsjson.Unmarshal(r.Doc, doc); err != nil {
		return r, fmt.Errorf("decode %s %q: %w", typ, name, err)
	}
	return r, nil
}
