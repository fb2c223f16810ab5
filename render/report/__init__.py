"""`meshrender report`: what the mesh costs, per workload, per namespace and overall.

`cost` prices every workload from its evaluation (through the driver, as every command
reads workloads): the proxy's and istio-init's requests and limits, and the pod's
effective request as Kubernetes computes it (render/kube/podresources.py) without the
mesh, natively injected and traditionally injected, times the pods the workload runs.
`formats` prints it as text, JSON, markdown (a pull-request comment) or CSV.
"""
