package commerce

// Service is the wallet's merchant services. Being written (issue 5).
type Service struct{}
