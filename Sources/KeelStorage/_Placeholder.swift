// KeelStorage
