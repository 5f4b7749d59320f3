package merchant

// What the external tests (package commerce_test, which may import
// wallet/store where this package may not) need of the internals.
var (
	SweepMerchant     = (*Service).sweep
	PaymentRequestKey = requestKey
	NewObjectID       = newID
	DefaultSweep      = defaultSweep
	LeaseDuration     = leaseDuration
)

const RequestApproving = requestApproving
