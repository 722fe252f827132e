// Keeps matquant_model a valid target while its sources are globbed in.
