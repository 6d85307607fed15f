// KeelEngine
