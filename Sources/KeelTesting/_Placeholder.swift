// KeelTesting
