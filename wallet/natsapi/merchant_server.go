package natsapi

import (
	"github.com/kibubu/kibubu/wallet/commerce"
	"github.com/nats-io/nats.go/micro"
)

// merchant adds the merchant endpoints (merchant.go's subjects) served by c.
func (s *server) merchant(c *commerce.Service, add func(string, micro.HandlerFunc)) {
	// Being written (issue 5): every subject of merchant.go gets a handler here.
}
