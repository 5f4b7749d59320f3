package natsapi

import (
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// The tests' currency, and the zone receipts' dates are read in.
var (
	kes, _  = wallet.LookupCurrency("KES")
	nairobi = time.FixedZone("EAT", 3*60*60)
)

// catalog is the real message catalogue.
func catalog(t testing.TB) *locales.Catalog {
	t.Helper()
	cat, err := locales.New()
	if err != nil {
		t.Fatalf("locales: %v", err)
	}
	return cat
}

// deliveryRow is what the tests read of a webhook_deliveries row: the
// payload as recorded, which the API lists only as its event.
type deliveryRow struct {
	ID      string
	EventID string
	Payload string
}

func (deliveryRow) TableName() string { return "webhook_deliveries" }
