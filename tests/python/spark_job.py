"""The overview's Spark step against a broker: read a topic with Spark's Kafka source, as a
batch and as a Structured Streaming query that writes a Delta table (`orders`), then print the
table as JSON lines. Run twice on one work directory, the query's checkpoint makes the second
run append only what arrived since.

    python spark_job.py BOOTSTRAP TOPIC WORKDIR
"""

import json
import os
import sys

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

# Spark 4.0.0 throughout: Delta 4.0.0 is built for it, and Maven Central serves the Kafka
# source's jars at that version.
KAFKA_SOURCE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0"

bootstrap, topic, workdir = sys.argv[1:4]
builder = (SparkSession.builder.appName("KafkaConsumerExample").master("local[2]")
           .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
           .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
           .config("spark.sql.warehouse.dir", f"{workdir}/warehouse")
           .config("spark.ui.enabled", "false"))
spark = configure_spark_with_delta_pip(builder, extra_packages=[KAFKA_SOURCE]).getOrCreate()
spark.sparkContext.setLogLevel("WARN")

# As a batch: what the overview's df.show() means for a table that is not streaming.
batch = spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic).load()
print(json.dumps({"batch_rows": batch.count()}), flush=True)

# The catalog lives in this process only: a later run registers the table its predecessor wrote.
location = f"{workdir}/warehouse/orders"
if os.path.isdir(f"{location}/_delta_log"):
    spark.sql(f"CREATE TABLE orders USING DELTA LOCATION '{location}'")

# The overview's readStream ... writeStream.format("delta").toTable("orders"), from the earliest
# offsets, processing what is there now and stopping (availableNow) so the test can look.
df = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic)
      .option("startingOffsets", "earliest").load())
query = (df.writeStream.format("delta").outputMode("append")
         .option("checkpointLocation", f"{workdir}/checkpoint").trigger(availableNow=True).toTable("orders"))
query.awaitTermination()
for row in spark.table("orders").selectExpr("CAST(key AS STRING)", "CAST(value AS STRING)", "partition",
                                            "offset").collect():
    print(json.dumps({"key": row[0], "value": row[1], "partition": row[2], "offset": row[3]}), flush=True)
spark.stop()
