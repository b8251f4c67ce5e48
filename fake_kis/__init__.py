"""A faithful local fake of the KIS Open API (REST): `krx fake-kis --port P --data csv:DIR`."""
