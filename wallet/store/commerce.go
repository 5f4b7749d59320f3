package store

// commerceModels are the merchant services' tables (payment requests, API
// keys, payouts): see package wallet/commerce.
var commerceModels = []any{}
