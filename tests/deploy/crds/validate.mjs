// Reads [{kind, apiVersion, doc}] JSON on stdin; prints [{kind, name, errors}] using the packages'
// compiled validators (the CRDs' patterns, bounds, enums, required fields).
import { EnvoyFilter } from "@kubernetes-models/istio/networking.istio.io/v1alpha3/EnvoyFilter";
import { EnvoyExtensionPolicy } from "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy";
import { ClientTrafficPolicy } from "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy";
import { ReferenceGrant } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
const MODELS = { EnvoyFilter, EnvoyExtensionPolicy, ClientTrafficPolicy, ReferenceGrant, ServiceMonitor, PodMonitor };
let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((doc) => {
  try { new MODELS[doc.kind](doc).validate(); return { kind: doc.kind, errors: [] }; }
  catch (err) { return { kind: doc.kind, errors: [String(err.message || err)] }; }
});
console.log(JSON.stringify(out));
