package store

// tabModels are the tables of tabs and their charges and settlements: see
// package wallet/commerce.
var tabModels = []any{}
