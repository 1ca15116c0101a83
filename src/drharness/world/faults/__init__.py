"""The world's fault table and the effects of the faults that change more than single requests.

`table` holds the active faults and decides what each does to a request; one module per effect
(`az_outage` on EC2, `corruption` of data, `credentials` for a compromised or denied access key)
does what a fault does to the world's state, and undoes it.
"""
