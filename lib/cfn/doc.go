// Package cfn reads a synthesized CloudFormation template: its Lambda
// functions with their environments, execution roles' policy statements,
// event source mappings and API integrations, and evaluates the intrinsic
// functions CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub...) against
// values bound to logical ids, such as the names of the resources an
// emulator holds. lambdarun runs a template's functions with it.
package cfn
