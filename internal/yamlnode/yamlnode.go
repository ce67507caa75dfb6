// Package yamlnode reads yaml.v3 node trees, for the line numbers that
// rule files and rule test files report their problems at.
package yamlnode

import "go.yaml.in/yaml/v3"

// Value returns the value of key in the mapping n, or nil.
func Value(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Seq returns the items of the sequence under key in the mapping n, nil
// when there is none.
func Seq(n *yaml.Node, key string) []*yaml.Node {
	if v := Value(n, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}
