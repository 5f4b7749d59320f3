package merchantapi

import (
	"context"
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// API keys: who a key speaks for; keys made with operator NATS credentials
// (the first key is made so); and keys made with an operator API key (the
// operator REST API).

const (
	SubjectMerchantAuth = natsapi.SubjectPrefix + ".merchant.auth"
	SubjectAPIKeyCreate = natsapi.SubjectPrefix + ".merchant.apikey.create"
	SubjectAPIKeyList   = natsapi.SubjectPrefix + ".merchant.apikey.list"
	SubjectAPIKeyRevoke = natsapi.SubjectPrefix + ".merchant.apikey.revoke"
	// The operator REST API's key management: the same as the apikey
	// subjects, but authenticated by an operator API key in Auth (a gateway
	// may call them; the apikey subjects need operator NATS credentials and
	// make the first key).
	SubjectOpKeyCreate = natsapi.SubjectPrefix + ".merchant.opkey.create"
	SubjectOpKeyList   = natsapi.SubjectPrefix + ".merchant.opkey.list"
	SubjectOpKeyRevoke = natsapi.SubjectPrefix + ".merchant.opkey.revoke"
)

// AuthRequest carries a bearer API key.
type AuthRequest struct {
	Auth string `json:"auth"`
}

// APIKeyRequest creates (Merchant or Operator, Scopes), lists (Merchant;
// empty: every key) or revokes (ID) API keys.
type APIKeyRequest struct {
	Merchant string           `json:"merchant,omitempty"`
	Operator bool             `json:"operator,omitempty"`
	Scopes   []merchant.Scope `json:"scopes,omitempty"`
	ID       string           `json:"id,omitempty"`
	Expires  *time.Time       `json:"expires,omitempty"` // create: when the key stops working
}

// OperatorKeyRequest is an APIKeyRequest made with an operator API key.
type OperatorKeyRequest struct {
	Auth string `json:"auth"`
	APIKeyRequest
}

// APIKeysReply lists API keys (never their secrets).
type APIKeysReply struct {
	Keys []merchant.APIKey `json:"keys"`
}

// The endpoints, declared once.
var (
	Auth = natsrpc.Endpoint[AuthRequest, merchant.Principal]{Subject: SubjectMerchantAuth}
	// API keys with operator NATS credentials (the first key is made so).
	APIKeyCreate = natsrpc.Endpoint[APIKeyRequest, merchant.APIKey]{Subject: SubjectAPIKeyCreate, Operator: true}
	APIKeyList   = natsrpc.Endpoint[APIKeyRequest, APIKeysReply]{Subject: SubjectAPIKeyList, Operator: true, ReadOnly: true}
	APIKeyRevoke = natsrpc.Endpoint[APIKeyRequest, merchant.APIKey]{Subject: SubjectAPIKeyRevoke, Operator: true}
	// API keys with an operator API key (the operator REST API).
	OpKeyCreate = natsrpc.Endpoint[OperatorKeyRequest, merchant.APIKey]{Subject: SubjectOpKeyCreate, OperatorKey: true}
	OpKeyList   = natsrpc.Endpoint[OperatorKeyRequest, APIKeysReply]{Subject: SubjectOpKeyList}
	OpKeyRevoke = natsrpc.Endpoint[OperatorKeyRequest, merchant.APIKey]{Subject: SubjectOpKeyRevoke, OperatorKey: true}
)

// registerKeys binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerKeys(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
	Auth.Handle(m, func(ctx context.Context, q AuthRequest) (*merchant.Principal, error) {
		p, err := c.Authenticate(ctx, q.Auth)
		return &p, err
	})
	APIKeyCreate.Handle(m, func(ctx context.Context, q APIKeyRequest) (*merchant.APIKey, error) {
		return c.NewAPIKey(ctx, nil, q.keyRequest())
	})
	APIKeyList.Handle(m, func(ctx context.Context, q APIKeyRequest) (*APIKeysReply, error) {
		keys, err := c.APIKeys(ctx, q.Merchant)
		return &APIKeysReply{Keys: keys}, err
	})
	APIKeyRevoke.Handle(m, func(ctx context.Context, q APIKeyRequest) (*merchant.APIKey, error) {
		return c.RevokeAPIKey(ctx, q.ID)
	})
	// The operator key's scopes decide what it may do with keys (see
	// merchant.NewAPIKey, RevokeAPIKeyAs).
	authorized(m, c, OpKeyCreate, merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (*merchant.APIKey, error) {
		return c.NewAPIKey(ctx, &p, q.keyRequest())
	})
	authorized(m, c, OpKeyList, merchant.ScopeKeysRead, func(ctx context.Context, _ merchant.Principal, q OperatorKeyRequest) (*APIKeysReply, error) {
		keys, err := c.APIKeys(ctx, q.Merchant)
		return &APIKeysReply{Keys: keys}, err
	})
	authorized(m, c, OpKeyRevoke, merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (*merchant.APIKey, error) {
		return c.RevokeAPIKeyAs(ctx, p, q.ID)
	})
}

func (q OperatorKeyRequest) auth() string { return q.Auth }

func (q APIKeyRequest) keyRequest() merchant.KeyRequest {
	return merchant.KeyRequest{Merchant: q.Merchant, Operator: q.Operator, Scopes: q.Scopes, Expires: q.Expires}
}
