package deploy

// For the fleet fault test (package deploy_test), which runs compose.yaml's
// services as local processes: it loads the file as the parsing tests do.
var (
	LoadCompose = loadCompose
	SecretPath  = secretPath
)
