// Package examples holds the Prometheus scrape configuration, alerting rules and Grafana
// dashboard shipped for operators; its tests keep them in step with the metrics the bot exports.
package examples
