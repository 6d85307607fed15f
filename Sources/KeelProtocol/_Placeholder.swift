// KeelProtocol
