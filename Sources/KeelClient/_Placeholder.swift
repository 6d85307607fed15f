// KeelClient
