// KeelSchema
